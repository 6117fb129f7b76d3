"""Figure 16 — the squeeze on a real LM: off-policy DPO on SmolLM2-135M, every probe type.

One panel per DPO run: the reference run on one GPU (`../shared/reference/h200-smollm2/dpo-5e-6`,
read when present) and the `cpu-squeeze` preset's run under `--runs` (else its first DPO run by
name; without a DPO run under `--runs` the figure is skipped, with that reason). Each curve is
the change of a probe type's mean summed log π(y|x_u) since step 0, so that the start is the zero
line: y⁺ rises to its peak (marked) and then falls, below zero where the squeeze has taken back
more than DPO first gave it; y⁻ falls most, y* rises, the other prompts' answers (irr_train) rise
first and then fall. A run with `prompts.csv` also gets y⁺'s pointwise 95 % t-interval over its
probe prompts (shaded), and the marked step is where that band is below zero from then on (the
noise cleared); without it, the first evaluation after the peak whose mean is below. `trends`
decides the claim itself with a bootstrap (`llm_validation.measure.trends`). The simulator's twin
is figure 6.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from scipy import stats

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
class Band:
    """y⁺'s change since step 0: the pointwise 95 % interval over probe prompts. Shapes: (S,)."""

    steps: np.ndarray
    low: np.ndarray
    high: np.ndarray


@dataclass(frozen=True)
class Panel:
    title: str
    trace: Trace
    band: Band | None = None


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
    return [
        Panel(t, io.read_trace(f / io.METRICS), band(io.read_prompt_changes(f, "chosen")))
        for t, f in found.items()
    ]


def band(changes: tuple[np.ndarray, np.ndarray] | None, level: float = 0.95) -> Band | None:
    """Δ̄[s] ± t_{P−1}·sd[s]/√P from per-prompt changes (steps (S,), Δ (S, P)), or None."""
    if changes is None:
        return None
    steps, delta = changes
    half = stats.t.ppf(0.5 + level / 2, delta.shape[1] - 1) * delta.std(axis=1, ddof=1)
    half /= np.sqrt(delta.shape[1])
    mean = delta.mean(axis=1)
    return Band(steps, mean - half, mean + half)


def clear_below(steps: np.ndarray, high: np.ndarray, after: int) -> int | None:
    """The first step after index `after` from which the band's upper edge stays below zero to
    the last evaluation, or None."""
    above = np.flatnonzero(high >= 0.0)
    first = max(int(above[-1]) + 1 if above.size else 0, after + 1)
    return int(steps[first]) if first < len(steps) else None


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
    b = panel.band
    if b is not None:
        ax.fill_between(b.steps, b.low, b.high, color=style.BLUE, alpha=0.15, lw=0, label="_band")
        below = clear_below(b.steps, b.high, int(np.searchsorted(b.steps, steps[peak])))
        text, at, va = "$y^+_u$'s 95 % band below\nits start from step {}", b.low.min(), "top"
    else:
        below = crossing(steps, style.ema(values, ema))
        text, at, va = "$y^+_u$ below its start\nfrom step {}", change[peak] / 2, "center"
    if below is not None:
        ax.axvline(below, color=style.BLUE, ls=":", lw=1.2, label="_below")
        ax.annotate(
            text.format(below),
            (below, at),
            xytext=(-5, -3),
            textcoords="offset points",
            ha="right",
            va=va,
            color=style.BLUE,
            fontsize=8.5,
        )
    ax.axhline(0.0, color=style.GREY, lw=0.8)
    low, high = ax.get_ylim()
    ax.set_ylim(low, high + 0.12 * (high - low))  # room for the peak's label under the title
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
