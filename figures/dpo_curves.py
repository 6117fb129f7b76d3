"""Figure 6 — off-policy DPO probe curves, in panels (the paper's Sec. 4.2 on the probe world).

Off-policy DPO from π₀ pushes y⁻_u down hard. The paper's reading: the negative gradient on an
already unlikely response squeezes mass onto the argmax, so most probes fall while y*, the
teacher-forced argmax, holds or rises. The panels let one check each family against that story.
"""

from __future__ import annotations

from matplotlib.figure import Figure

from simulator.metrics import Trace

from . import sim_runs, style
from .sim_runs import RunConfig as Config

TINY = sim_runs.TINY


def compute(cfg: Config) -> Trace:
    return sim_runs.run("dpo", cfg)


def plot(trace: Trace, cfg: Config) -> Figure:
    fig = style.new_figure(18, 4.4)
    sim_runs.family_panels(fig.subplots(1, len(sim_runs.FAMILY_PANELS)), trace, cfg.ema)
    fig.suptitle(
        r"Off-policy DPO from $\pi_0$ on fixed pairs $(y^+_u, y^-_u)$: log-probability of each "
        r"probe type under $x_u$" + sim_runs.ema_note(cfg.ema)
    )
    return fig
