"""Figure 5 — SFT probe curves by type (the paper's Sec. 4.1 on the synthetic probe world).

SFT on y⁺_u pulls up y⁺_u and, through the shared kernel, responses like it; the curves of each
probe family show what the one-step decomposition predicts: the bigger K(χ_o, χ_u), the more a
response is dragged along.
"""

from __future__ import annotations

from matplotlib.figure import Figure

from simulator.metrics import Trace

from . import sim_runs, style
from .sim_runs import RunConfig as Config

TINY = sim_runs.TINY

PANELS = (
    (
        "chosen and its rephrases",
        ("chosen", "chosen_gptsemantic", "chosen_gptformat", "chosen_initial"),
    ),
    ("rejected and its rephrases", ("rejected", "reject_gptsemantic", "reject_gptformat")),
    ("irrelevant responses", ("irr_train", "irr_test", "irr_hum")),
    ("random responses and the argmax", ("random_permute", "random_nonhum", "y_star")),
)


def compute(cfg: Config) -> Trace:
    return sim_runs.run("sft", cfg)


def plot(trace: Trace, cfg: Config) -> Figure:
    fig = style.new_figure(16, 4.4)
    for ax, (title, types) in zip(fig.subplots(1, len(PANELS)), PANELS):
        for t in types:
            sim_runs.curve(ax, trace, t, cfg.ema)
        sim_runs.label_axes(ax, title)
        ax.legend(loc="best")
    fig.suptitle(
        r"SFT on $y^+_u$: log-probability of each probe type under $x_u$"
        + sim_runs.ema_note(cfg.ema)
    )
    return fig
