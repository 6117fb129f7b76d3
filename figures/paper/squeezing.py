"""Figure 3 — the squeezing effect, panel by panel (Sec. 3.3).

One step under K = I on a single input, π ∝ (i + 1)^(−peakiness) (rank = index):
a positive gradient on a label; a negative gradient on a flat distribution, on the peak, and on a
valley; and a V = 1000 valley, where only the argmax rises and every other label falls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from simulator import (
    Responses,
    UpdateBatch,
    log_softmax,
    negative_step,
    softmax,
    take_step,
    zipf_logits,
)

from .. import style


@dataclass(frozen=True)
class Config:
    vocab: int = 10  # V of the four small panels
    big_vocab: int = 1000  # V of the large valley panel
    peakiness: float = 1.5  # π_i ∝ (i + 1)^(−peakiness)
    lr: float = 2.0  # η (K = I, so the step size is s = η)


TINY = Config(vocab=4, big_vocab=20)


@dataclass(frozen=True)
class Panel:
    title: str
    pi_before: np.ndarray  # (V,)
    pi_after: np.ndarray  # (V,)
    label: int  # the label the gradient acts on
    positive: bool


def positive_step(z: np.ndarray, y: int, lr: float) -> np.ndarray:
    """π after one SFT step on y under K = I (G = π − e_y). Shape: (V,)."""
    batch = UpdateBatch({"y": Responses.single_labels([0], [y])})
    return softmax(take_step(z[None], np.eye(1), "sft", batch, lr).z_after[0])


def _negative(title: str, z: np.ndarray, ybar: int, lr: float) -> Panel:
    r = negative_step(z, ybar, lr)
    return Panel(title, r.pi_before, r.pi_after, ybar, positive=False)


def compute(cfg: Config) -> list[Panel]:
    peaky = zipf_logits(cfg.vocab, cfg.peakiness)
    flat = zipf_logits(cfg.vocab, 0.0)
    big = zipf_logits(cfg.big_vocab, cfg.peakiness)
    y_pos = cfg.vocab // 2
    return [
        Panel(
            "positive gradient on $y$",
            softmax(peaky),
            positive_step(peaky, y_pos, cfg.lr),
            y_pos,
            True,
        ),
        _negative(r"negative gradient, flat $\pi$", flat, cfg.vocab - 1, cfg.lr),
        _negative(r"negative gradient on the peak", peaky, 0, cfg.lr),
        _negative(r"negative gradient in a valley", peaky, cfg.vocab - 1, cfg.lr),
        _negative(f"in a valley, V = {cfg.big_vocab}", big, cfg.big_vocab - 1, cfg.lr),
    ]


def _delta_colors(delta: np.ndarray) -> list[str]:
    return [style.RISE if v > 0 else style.FALL for v in delta]


def _small(top, bottom, p: Panel) -> None:
    labels = np.arange(p.pi_before.size)
    mark = style.BLUE if p.positive else style.ORANGE
    top.bar(labels, p.pi_before, 0.8, color=style.GREY, alpha=0.5, label=r"$\pi$ before")
    top.bar(labels, p.pi_after, 0.4, color=style.BLACK, label=r"$\pi$ after")
    top.annotate(
        "$y$" if p.positive else r"$\bar y$",
        (p.label, max(p.pi_before[p.label], p.pi_after[p.label])),
        xytext=(0, 14),
        textcoords="offset points",
        ha="center",
        color=mark,
        fontsize=12,
        arrowprops={"arrowstyle": "<-" if p.positive else "->", "color": mark, "lw": 2},
    )
    top.set_title(p.title)
    top.set_ylabel(r"$\pi(i)$")
    top.set_ylim(0, 1.5 * max(p.pi_before.max(), p.pi_after.max()))
    top.legend(loc="upper center", ncols=2)
    delta = log_softmax(np.log(p.pi_after)) - np.log(p.pi_before)
    bottom.bar(labels, delta, 0.7, color=_delta_colors(delta))
    bottom.axhline(0, color=style.BLACK, lw=0.8)
    bottom.set_xlabel("label i (rank order)")
    bottom.set_ylabel(r"$\Delta\log\pi(i)$")
    rises = int(np.sum(delta > 0))
    bottom.set_title(f"{rises} rise (blue), {delta.size - rises} fall (red)", fontsize=9.5)
    for ax in (top, bottom):
        ax.set_xticks(labels if labels.size <= 12 else labels[:: labels.size // 10])


def _big(top, bottom, p: Panel) -> None:
    rank = np.arange(1, p.pi_before.size + 1)
    top.loglog(rank, p.pi_before, color=style.GREY, lw=3, label=r"$\pi$ before")
    top.loglog(rank, p.pi_after, color=style.BLACK, lw=1.2, label=r"$\pi$ after")
    top.annotate(
        r"$\bar y$",
        (rank[p.label], p.pi_after[p.label]),
        xytext=(-30, 20),
        textcoords="offset points",
        color=style.ORANGE,
        fontsize=12,
        arrowprops={"arrowstyle": "->", "color": style.ORANGE, "lw": 2},
    )
    top.set_title(p.title)
    top.set_ylabel(r"$\pi(i)$")
    top.legend(loc="lower left")
    delta = np.log(p.pi_after) - np.log(p.pi_before)
    rises = delta > 0
    bottom.semilogx(rank[~rises], delta[~rises], ".", ms=3, color=style.FALL, label="falls")
    bottom.semilogx(rank[rises], delta[rises], "o", ms=7, color=style.RISE, label="rises")
    bottom.axhline(0, color=style.BLACK, lw=0.8)
    bottom.set_xlabel("rank i (log scale)")
    bottom.set_ylabel(r"$\Delta\log\pi(i)$")
    bottom.set_title(f"{int(rises.sum())} rises: only the argmax", fontsize=9.5)
    bottom.legend(loc="lower left")


def plot(panels: list[Panel], cfg: Config) -> Figure:
    fig = style.new_figure(17, 6.5)
    axes = fig.subplots(2, len(panels), height_ratios=[1.3, 1])
    for i, p in enumerate(panels[:-1]):
        _small(axes[0, i], axes[1, i], p)
    _big(axes[0, -1], axes[1, -1], panels[-1])
    fig.suptitle(
        rf"Squeezing: one step (K = I, η = {cfg.lr:g}). A negative gradient on an unlikely "
        r"label $\bar y$ pushes its mass onto the argmax"
    )
    return fig
