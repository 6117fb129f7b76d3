"""Figure 6 — long off-policy DPO probe curves, in panels (the paper's Sec. 4.2 on the probe world).

`simulator run dpo`: RMSprop at 3e-2 with 150 warmup steps, 300 steps, on pairs whose y⁻ shares
y⁺'s opening. The paper's picture at every seed 0–3: y⁺ rises to a peak and then ends below its
start, y⁻ falls most, every response no step trains on falls (irr_train after a first rise),
and y*, the teacher-forced argmax along y⁺, rises: the negative gradient on an ever less likely
y⁻ squeezes mass onto the argmax, and RMSprop keeps its step as the loss saturates.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from matplotlib.figure import Figure

from simulator.metrics import Trace

from . import sim_runs, style


@dataclass(frozen=True)
class Config(sim_runs.CurveConfig):
    steps: int = 300  # the CLI's `run dpo`: long enough for y⁺ to fall below its start


TINY = Config(**{f.name: getattr(sim_runs.TINY, f.name) for f in fields(sim_runs.TINY)})


def compute(cfg: Config) -> Trace:
    return sim_runs.run("dpo", cfg)


def plot(trace: Trace, cfg: Config) -> Figure:
    fig = style.new_figure(18, 4.4)
    sim_runs.family_panels(fig.subplots(1, len(sim_runs.FAMILY_PANELS)), trace, cfg.ema)
    fig.suptitle(
        r"Long off-policy DPO from $\pi_0$ (RMSprop) on fixed pairs $(y^+_u, y^-_u)$: "
        r"log-probability of each probe type under $x_u$" + sim_runs.ema_note(cfg.ema)
    )
    return fig
