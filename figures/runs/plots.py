"""The plots of one run folder, drawn from the files the run wrote (never from its objects).

`python -m llm_validation` writes data only and calls `draw_run(folder)` when matplotlib is
installed; `python -m figures --runs` draws the same files into the gallery figures.

- `metrics.csv` → `curves.png`: figure 10's panels (the probe families, the token diagnostics);
- `predictions.csv` (+ `summary.json`, `config.json`) → `scatter.png`: predicted against actual
  Δ log π at the configured η, and with `--lr-sweep` the relative error against η;
- `influence.csv` (+ `config.json`) → `influence.png`: heat maps of I[r, c] on the shared
  diverging scale (positive blue, as `style.RISE`);
- `drift.json` (`run --track-kernel`) → `drift.png`: the eNTK's drift and the trajectory
  predictions' error against the interval length.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import matplotlib.ticker
import numpy as np

from common import runs

from .. import style
from . import io
from .curves import read, run_figure


def _json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def curves(folder: Path, ema: float = 0.0):
    """Figure 10's panels of one run: the probe families and the token diagnostics along y⁺."""
    return run_figure(folder.name, read(folder), ema)


def scatter(folder: Path):
    """Predicted vs actual Δ log π at η (one colour per probe type, the line y = x), and with a
    sweep the relative error against η beside a slope-1 guide."""
    pred = io.read_predictions(folder / io.PREDICTIONS)
    summary = _json(folder / runs.SUMMARY)
    sweep = "lr_sweep" in summary
    fig = style.new_figure(10 if sweep else 5.5, 4.5)
    ax = fig.add_subplot(1, 2 if sweep else 1, 1)
    for kind in dict.fromkeys(pred.probe_type.tolist()):
        sel = pred.probe_type == kind
        s = style.probe_style(kind)
        ax.scatter(
            pred.predicted[sel],
            pred.actual[sel],
            s=14,
            color=s.color,
            label=s.label,
            marker="o" if s.ls == "-" else "^" if s.ls == "--" else "s",
        )
    lim = float(max(np.abs(pred.predicted).max(), np.abs(pred.actual).max()))
    ax.plot([-lim, lim], [-lim, lim], color=style.BLACK, lw=0.8)
    ax.set_xlabel("predicted Δ log π (first order)")
    ax.set_ylabel("actual Δ log π (one step)")
    r = summary.get("pearson_r")
    ax.set_title(f"{pred.method}/{pred.optimizer}, η={pred.lr:g}" + (f": r={r:.4f}" if r else ""))
    ax.legend(fontsize=6, ncol=2)
    if sweep:
        ax2 = fig.add_subplot(1, 2, 2)
        lrs, errs = summary["lr_sweep"]["lr"], summary["lr_sweep"]["relative_error"]
        ax2.loglog(lrs, errs, "o-", color=style.BLUE, label="relative error")
        ax2.loglog(lrs, [errs[-1] * lr / lrs[-1] for lr in lrs], "k--", lw=0.8, label="∝ η")
        ax2.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax2.set_xlabel("η")
        ax2.set_ylabel("‖pred − actual‖ / ‖actual‖")
        ax2.legend()
    return fig


def read_influence(path: Path) -> tuple[list[str], list[str], dict[str, np.ndarray]]:
    """influence.csv → (rows, columns, {same, other, total: Shape (R, C)})."""
    with path.open(newline="") as handle:
        table = list(csv.DictReader(handle))
    rows = list(dict.fromkeys(r["train_type"] for r in table))
    cols = list(dict.fromkeys(r["probe_type"] for r in table))
    mats = {k: np.zeros((len(rows), len(cols))) for k in ("same", "other", "total")}
    keys = {"same": "same_prompt", "other": "other_prompts", "total": "total"}
    for r in table:
        i, j = rows.index(r["train_type"]), cols.index(r["probe_type"])
        for k, col in keys.items():
            mats[k][i, j] = float(r[col])
    return rows, cols, mats


def influence(folder: Path):
    """Three heat maps (same prompt, other prompts, total) on one symmetric diverging scale."""
    rows, cols, mats = read_influence(folder / runs.INFLUENCE)
    config = _json(folder / runs.CONFIG)
    fig = style.new_figure(15, 1.6 + 0.45 * len(rows))
    titles = {"same": "same prompt (o = u)", "other": "other prompts (o ≠ u)", "total": "total"}
    for k, (key, title) in enumerate(titles.items()):
        ax = fig.add_subplot(1, 3, k + 1)
        lim = float(np.abs(mats[key]).max()) or 1.0
        image = ax.imshow(mats[key], cmap=style.DIVERGING, vmin=-lim, vmax=lim, aspect="auto")
        ax.set_xticks(range(len(cols)), cols, rotation=70, fontsize=7)
        ax.set_yticks(range(len(rows)), [f"train {r}" for r in rows], fontsize=7)
        ax.set_title(title, fontsize=9)
        ax.grid(False)
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.suptitle(
        f"first-order Δ log π (η = {config.get('lr', '?')}) from one {config.get('loss', '?')} "
        f"step per example, N = {config.get('limit', '?')}: rows trained on, columns observed "
        "(blue: rises)",
        fontsize=9,
    )
    return fig


def kernel_drift(folder: Path, data: dict | None = None):
    """drift.json of a `--track-kernel` run: the relative-influence matrix's correlation with its
    start against the step, and how well each first-order prediction follows the actual change
    over intervals of S steps (relative error and r against S)."""
    data = data or _json(folder / runs.DRIFT)  # figure 12 passes it in
    fig = style.new_figure(15, 4.2)
    left, mid, right = fig.subplots(1, 3)
    for subset, ls in (("all", "-"), ("unembed", "--")):
        d = [x for x in data["drift"] if x["subset"] == subset]
        left.plot(
            [x["step"] for x in d],
            [x["correlation"] for x in d],
            ls,
            color=style.BLUE,
            marker="o",
            ms=3,
            label=f"{subset} parameters",
        )
    left.set_xlabel("optimiser step")
    left.set_ylabel("corr(Ĩ_t, Ĩ_0)")
    left.set_title("relative influence vs its start")
    left.legend()
    for key, color, label in (
        ("fixed_kernel", style.RED, "stable kernel (θ at interval start)"),
        ("per_step", style.BLUE, "first order per step"),
    ):
        t = [x for x in data["trajectory"] if x["prediction"] == key]
        s = [x["interval"] for x in t]
        mid.loglog(s, [x["relative_error"] for x in t], "o-", color=color, label=label)
        right.semilogx(s, [x["pearson_r"] for x in t], "o-", color=color, label=label)
    mid.set_xlabel("interval S (optimiser steps)")
    mid.set_ylabel("‖pred − actual‖ / ‖actual‖")
    mid.set_title("trajectory prediction error")
    mid.legend()
    right.set_xlabel("interval S (optimiser steps)")
    right.set_ylabel("Pearson r")
    right.set_title("trajectory prediction r")
    fig.suptitle(f"run {folder.name}: how stable the eNTK is, and how far one step predicts")
    return fig


PLOTS = (  # (input file, output file, drawing function)
    (runs.METRICS, "curves.png", curves),
    (io.PREDICTIONS, "scatter.png", scatter),
    (runs.INFLUENCE, "influence.png", influence),
    (runs.DRIFT, "drift.png", kernel_drift),
)


def draw_run(folder: Path) -> list[Path]:
    """Draw every plot whose input file the run folder holds; returns the files written."""
    written = []
    for source, target, draw in PLOTS:
        if (folder / source).is_file():
            with style.context():
                draw(folder).savefig(folder / target, dpi=110)
            written.append(folder / target)
    return written
