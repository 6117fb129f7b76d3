"""Figure 7 — baseline vs extension (the paper's Sec. 4.3): chosen and y*.

Baseline: SFT on y⁺_u, then DPO. Extension: SFT on y⁺_u and y⁻_u, then DPO. The paper's idea:
training on y⁻_u first lifts it out of the valley, so DPO's negative gradient later acts on a
likelier response and squeezes less. The panels show y⁺_u, y⁻_u and y* for both.
"""

from __future__ import annotations

from dataclasses import dataclass

from matplotlib.figure import Figure

from simulator.metrics import Trace

from . import sim_runs, style
from .sim_runs import RunConfig as Config

TINY = sim_runs.TINY

METHODS = (
    ("sft-dpo", r"baseline: SFT on $y^+_u$ → DPO", {"lw": 1.3, "marker": "o", "alpha": 0.7}),
    ("extend-dpo", r"extension: SFT on $y^+_u, y^-_u$ → DPO", {"lw": 2.6, "marker": "s"}),
)
PROBES = ("chosen", "rejected", "y_star")


@dataclass(frozen=True)
class Runs:
    traces: dict[str, Trace]


def compute(cfg: Config) -> Runs:
    return Runs({name: sim_runs.run(name, cfg) for name, _, _ in METHODS})


def plot(d: Runs, cfg: Config) -> Figure:
    fig = style.new_figure(15, 4.6)
    for ax, probe in zip(fig.subplots(1, len(PROBES)), PROBES):
        for name, label, kw in METHODS:
            trace = d.traces[name]
            every = max(1, trace.series(probe)[0].size // 10)
            sim_runs.curve(ax, trace, probe, cfg.ema, markevery=every, ms=5, label=label, **kw)
        sim_runs.label_axes(ax, f"{style.probe_style(probe).label} during DPO")
        ax.legend(loc="best")
    fig.suptitle(
        r"Baseline vs extension: DPO after SFT on $y^+_u$ only, or on $y^+_u$ and $y^-_u$"
        + sim_runs.ema_note(cfg.ema)
    )
    return fig
