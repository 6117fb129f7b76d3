"""Figures 5 and 6 — one experiment's probe curves, one panel per probe family (the paper's Sec. 4
on the synthetic probe world). One module, two figures (`SFT`, `DPO`): they differ only in the
experiment they run, its length and the title.

Figure 5, SFT on y⁺_u, pulls up y⁺_u and, through the shared kernel, responses that share its format
or content (the paper's Sec. 4.1).

Figure 6, long off-policy DPO (Sec. 4.2), is `simulator run dpo`: RMSprop at 3e-2 with 150 warmup
steps, 300 steps, on pairs whose y⁻ shares y⁺'s opening. The paper's picture at every seed 0–3:
y⁺ rises to a peak and then ends below its start, y⁻ falls most, every response no step trains on
falls (irr_train after a first rise), and y*, the teacher-forced argmax along y⁺, rises: the
negative gradient on an ever less likely y⁻ squeezes mass onto the argmax, and RMSprop keeps its
step as the loss saturates.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from matplotlib.figure import Figure

from simulator.metrics import Trace

from .. import style
from . import probe_world


@dataclass(frozen=True)
class DpoConfig(probe_world.CurveConfig):
    steps: int = 300  # the CLI's `run dpo`: long enough for y⁺ to fall below its start


@dataclass(frozen=True)
class FamilyCurves:
    """One figure of probe curves by family: the experiment it runs and its title. It has the
    names of a figure module (`Config`, `TINY`, `compute`, `plot`), for `registry.FigureSpec`."""

    experiment: str  # the `simulator.experiments.EXPERIMENTS` name it runs
    title: str  # the suptitle, before the EMA note
    Config: type = probe_world.CurveConfig  # the default settings (a `CurveConfig`)

    @property
    def TINY(self) -> probe_world.CurveConfig:  # the smoke-test settings, named as in a module
        return self.Config(
            **{f.name: getattr(probe_world.TINY, f.name) for f in fields(self.Config)}
        )

    def compute(self, cfg: probe_world.CurveConfig) -> Trace:
        return probe_world.run(self.experiment, cfg)

    def plot(self, trace: Trace, cfg: probe_world.CurveConfig) -> Figure:
        fig = style.new_figure(18, 4.4)
        probe_world.family_panels(fig.subplots(1, len(probe_world.FAMILY_PANELS)), trace, cfg.ema)
        fig.suptitle(self.title + probe_world.ema_note(cfg.ema))
        return fig


SFT = FamilyCurves(
    "sft", r"SFT on $y^+_u$ from $\pi_0$: log-probability of each probe type under $x_u$"
)
DPO = FamilyCurves(
    "dpo",
    r"Long off-policy DPO from $\pi_0$ (RMSprop) on fixed pairs $(y^+_u, y^-_u)$: "
    r"log-probability of each probe type under $x_u$",
    DpoConfig,
)
