"""Figure 16 — the squeeze on a real LM: off-policy DPO on SmolLM2-135M, every probe type.

One panel per DPO run: the reference run on one GPU (`../shared/reference/h200-smollm2/dpo-5e-6`,
read when present) and the `cpu-squeeze` preset's run under `--runs` (else its first DPO run by
name; without a DPO run under `--runs` the figure is skipped, with that reason). Each curve is
the change of a probe type's mean summed log π(y|x_u) since step 0, so that the start is the zero
line: y⁺ rises to its peak (marked) and then falls, below zero where the squeeze has taken back
more than DPO first gave it (the first evaluation below after the peak is marked); y⁻ falls most, y* rises, the
other prompts' answers (irr_train) rise first and then fall. The simulator's twin is figure 6.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from common.probes import Y_STAR
from simulator.metrics import Trace

from .. import style
from . import io

REFERENCE = Path("../shared/reference/h200-smollm2/dpo-5e-6")
PRESET = "cpu-squeeze"
BOLD = ("chosen", "rejected", "irr_train", Y_STAR)


@dataclass(frozen=True)
class Config:
    runs: Path | None = None  # `--runs`: the folder holding the cpu-squeeze run
    ema: float = 0.0  # EMA α of the curves (the paper's is 0.9)
    reference: Path = REFERENCE


TINY = Config()


@dataclass(frozen=True)
class Panel:
    title: str
    trace: Trace


def cpu_run(runs: Path) -> Path | None:
    """The run under `runs` made with the cpu-squeeze preset (config.json's `preset`), else the
    first DPO run by name; None if there is neither."""
    for path in io.find(runs, io.METRICS):
        if io.read_config(path.parent).get("preset") == PRESET:
            return path.parent
    return io.find_method(runs, "dpo")


def sources(cfg: Config) -> dict[str, Path]:
    """{panel title: run folder} of the runs present, the reference first."""
    found = {}
    if (cfg.reference / io.METRICS).is_file():
        found["reference: one H200, lr 5e-6, 499 HH pairs, truncation 512/256"] = cfg.reference
    own = cpu_run(cfg.runs) if cfg.runs is not None else None
    if own is not None and own.resolve() != cfg.reference.resolve():
        c = io.read_config(own)
        found[
            f"{own.name}: 2 CPU cores, lr {c.get('lr', 0):g}, {c.get('limit')} pairs, "
            f"truncation {c.get('max_length')}/{c.get('max_prompt_length')}"
        ] = own
    return found


def compute(cfg: Config) -> list[Panel]:
    found = sources(cfg)
    if not found:
        raise FileNotFoundError(f"no DPO run in {cfg.runs} and no reference run in {cfg.reference}")
    return [Panel(t, io.read_trace(f / io.METRICS)) for t, f in found.items()]


def crossing(steps: np.ndarray, values: np.ndarray) -> int | None:
    """The first evaluation after the peak whose value is below the start (the squeeze taking
    back more than DPO first gave), or None; a dip before the peak is not a crossing."""
    peak = int(np.argmax(values))
    below = np.flatnonzero(values[peak + 1 :] < values[0])
    return int(steps[peak + 1 + below[0]]) if below.size else None


def draw_panel(ax, panel: Panel, ema: float) -> None:
    types = dict.fromkeys(panel.trace.probe_type[panel.trace.metric == "logp"].tolist())
    for kind in sorted(types, key=lambda k: k in BOLD):  # the bold four drawn on top
        steps, values = panel.trace.series(kind)
        change = style.ema(values, ema) - values[0]
        s = style.probe_style(kind)
        bold = kind in BOLD
        ax.plot(
            steps,
            change,
            color=s.color,
            ls=s.ls,
            lw=2.2 if bold else 0.9,
            alpha=1.0 if bold else 0.45,
            label=s.label if bold else "_" + s.label,
        )
    steps, values = panel.trace.series("chosen")
    change = style.ema(values, ema) - values[0]
    peak = int(np.argmax(change))
    ax.plot(steps[peak], change[peak], "o", color=style.BLUE, ms=7, label="_peak")
    ax.annotate(
        f"$y^+_u$ peak {change[peak]:+.1f}\n(step {steps[peak]})",
        (steps[peak], change[peak]),
        xytext=(6, 8) if peak < len(steps) - 1 else (-80, -30),
        textcoords="offset points",
        color=style.BLUE,
        fontsize=8.5,
    )
    below = crossing(steps, style.ema(values, ema))
    if below is not None:
        ax.axvline(below, color=style.BLUE, ls=":", lw=1.2, label="_below")
        ax.annotate(
            f"$y^+_u$ below its start\nfrom step {below}",
            (below, change[peak] / 2),
            xytext=(5, 0),
            textcoords="offset points",
            color=style.BLUE,
            fontsize=8.5,
        )
    ax.axhline(0.0, color=style.GREY, lw=0.8)
    ax.set(
        title=panel.title,
        xlabel="DPO step",
        ylabel=r"$\Delta$ mean $\log\pi(y\,|\,x_u)$ since step 0",
    )
    ax.legend(loc="lower left")


def plot(panels: list[Panel], cfg: Config) -> Figure:
    fig = style.new_figure(6.2 * len(panels), 4.6)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels):
        draw_panel(ax, panel, cfg.ema)
    fig.suptitle(
        "The squeeze on a real LM: off-policy DPO on SmolLM2-135M-Instruct\n"
        "(thin lines: the other 9 probe types; probes: training prompts)"
    )
    return fig
