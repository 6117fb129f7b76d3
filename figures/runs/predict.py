"""Figure 11 — predicted vs actual Δ log π on a real LM (`python -m llm_validation predict`).

Each point is one probe response after one real optimiser step on one update: the first-order
prediction (Eq. 5 with the model's eNTK, or the optimiser's own direction) against the measured
change. One panel per predict run, coloured by probe type in the paper's convention.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from simulator import relative_error

from .. import style
from . import io


@dataclass(frozen=True)
class Config:
    runs: Path | None = None  # a predict run folder, or a folder of runs (`--runs`)
    max_runs: int = 3  # panels: the first predict runs by name


TINY = Config()


def compute(cfg: Config) -> list[io.Predictions]:
    paths = io.find(Path(cfg.runs), io.PREDICTIONS)[: cfg.max_runs]
    if not paths:
        raise FileNotFoundError(f"no {io.PREDICTIONS} in {cfg.runs} or its subfolders")
    return [io.read_predictions(p) for p in paths]


def _panel(ax, p: io.Predictions) -> None:
    for kind in dict.fromkeys(p.probe_type.tolist()):
        s = style.probe_style(kind)
        keep = p.probe_type == kind
        ax.scatter(
            p.predicted[keep],
            p.actual[keep],
            s=18,
            color=s.color,
            alpha=0.8,
            marker="o" if s.ls == "-" else ("s" if s.ls == "--" else "^"),
            label=s.label,
        )
    lim = style.symmetric_limit(p.predicted, p.actual) * 1.05
    ax.plot([-lim, lim], [-lim, lim], color=style.GREY, ls="--", lw=1, label="actual = predicted")
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal")
    r = np.corrcoef(p.predicted, p.actual)[0, 1] if p.actual.size > 1 else np.nan
    ax.set_title(
        f"{p.name}\n{p.method}/{p.optimizer}, η = {p.lr:g}: "
        f"rel. error {relative_error(p.actual, p.predicted):.1%}, r = {r:.3f}",
        fontsize=10,
    )
    ax.set_xlabel(r"predicted $\Delta\log\pi(y\,|\,x_o)$ (first order)")
    ax.set_ylabel(r"actual $\Delta\log\pi(y\,|\,x_o)$ (one step)")
    ax.legend(loc="upper left", fontsize=7.5, ncols=2)


def plot(runs: list[io.Predictions], cfg: Config) -> Figure:
    fig = style.new_figure(0.5 + 5.5 * len(runs), 5.8)
    for ax, p in zip(np.atleast_1d(fig.subplots(1, len(runs))), runs):
        _panel(ax, p)
    fig.suptitle("Predicted vs actual one-step change of every probe on a real LM")
    return fig
