"""Figure 8 — on-policy vs off-policy DPO (the paper's Sec. 4.2 discussion).

Off-policy pairs are fixed responses, and y⁻_u soon sits in a valley of π, where the negative
gradient squeezes. On-policy pairs are sampled from the current policy (best vs worst of a few
samples by the world's reward), so y⁻ is never very unlikely. The probes are the fixed ones in
both runs.
"""

from __future__ import annotations

from matplotlib.figure import Figure

from . import sim_runs, style
from .extension import Runs
from .sim_runs import RunConfig as Config

TINY = sim_runs.TINY

METHODS = (
    ("dpo", "off-policy DPO", {"lw": 1.3, "marker": "o", "alpha": 0.7}),
    ("onpolicy-dpo", "on-policy DPO", {"lw": 2.6, "marker": "s"}),
)
PROBES = ("chosen", "rejected", "irr_test", "y_star")


def compute(cfg: Config) -> Runs:
    return Runs({name: sim_runs.run(name, cfg) for name, _, _ in METHODS})


def plot(d: Runs, cfg: Config) -> Figure:
    fig = style.new_figure(18, 4.6)
    for ax, probe in zip(fig.subplots(1, len(PROBES)), PROBES):
        for name, label, kw in METHODS:
            trace = d.traces[name]
            every = max(1, trace.series(probe)[0].size // 10)
            sim_runs.curve(ax, trace, probe, cfg.ema, markevery=every, ms=5, label=label, **kw)
        sim_runs.label_axes(ax, f"probe {style.probe_style(probe).label}")
        ax.legend(loc="best")
    fig.suptitle(
        r"On-policy vs off-policy DPO from $\pi_0$: fixed pairs, or pairs sampled from the policy"
        + sim_runs.ema_note(cfg.ema)
    )
    return fig
