"""Figure 4 — phase diagram of squeezing: how strong, as a function of π(ȳ) and peakiness.

One negative-gradient step of size s = η on ȳ under K = I, on π ∝ (i + 1)^(−peakiness) with
π(ȳ) set exactly (ȳ takes the last rank's logit, the others keep their ratios). Two measures of
squeezing, both over the labels other than ȳ:

- falling labels: the fraction of labels i ≠ ȳ whose probability drops;
- squeezed mass: the relative drop of the mass outside the argmax and ȳ,
  1 − m′/m with m = 1 − π(argmax) − π(ȳ); positive when the argmax takes mass from the rest.

The exact rise condition (`simulator.rise_threshold`): i ≠ ȳ rises iff π_i > log Z / s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from simulator import negative_step, with_probability, zipf_logits

from .. import style


@dataclass(frozen=True)
class Config:
    vocab: int = 50  # V
    lr: float = 2.0  # s = η (K = I)
    n_prob: int = 48  # grid points in π(ȳ), log-spaced
    n_peak: int = 40  # grid points in peakiness
    prob_range: tuple[float, float] = (1e-4, 0.9)
    peak_range: tuple[float, float] = (0.0, 3.0)


TINY = Config(vocab=6, n_prob=4, n_peak=3)


@dataclass(frozen=True)
class Phase:
    prob: np.ndarray  # (P,) π(ȳ) before the step
    peakiness: np.ndarray  # (Q,)
    falling: np.ndarray  # (Q, P) fraction of labels ≠ ȳ that fall
    squeezed: np.ndarray  # (Q, P) relative drop of the mass outside argmax and ȳ
    only_argmax: np.ndarray  # (Q, P) bool: every label but the argmax falls
    vocab: int
    lr: float


def squeeze_measures(
    pi_before: np.ndarray, pi_after: np.ndarray, ybar: int
) -> tuple[float, float, bool]:
    """(falling fraction, squeezed mass, only the argmax rises) for one step on ȳ. Shapes: (V,)."""
    others = np.delete(np.arange(pi_before.size), ybar)
    top = others[np.argmax(pi_before[others])]
    falls = pi_after[others] < pi_before[others]
    rest = others[others != top]
    m_before, m_after = pi_before[rest].sum(), pi_after[rest].sum()
    return (
        float(falls.mean()),
        float(1.0 - m_after / m_before),
        bool(falls.sum() == others.size - 1),
    )


def compute(cfg: Config) -> Phase:
    prob = np.geomspace(*cfg.prob_range, cfg.n_prob)
    peakiness = np.linspace(*cfg.peak_range, cfg.n_peak)
    ybar = cfg.vocab - 1
    out = np.zeros((3, peakiness.size, prob.size))
    for i, a in enumerate(peakiness):
        base = zipf_logits(cfg.vocab, a)
        for j, p in enumerate(prob):
            r = negative_step(with_probability(base, ybar, p), ybar, cfg.lr)
            out[:, i, j] = squeeze_measures(r.pi_before, r.pi_after, ybar)
    return Phase(prob, peakiness, out[0], out[1], out[2].astype(bool), cfg.vocab, cfg.lr)


def _panel(fig, ax, d: Phase, values: np.ndarray, title: str, label: str, **imshow) -> None:
    mesh = ax.pcolormesh(d.prob, d.peakiness, values, shading="nearest", **imshow)
    if d.only_argmax.any() and not d.only_argmax.all():
        ax.contour(
            d.prob,
            d.peakiness,
            d.only_argmax.astype(float),
            levels=[0.5],
            colors=style.BLACK,
            linewidths=2,
        )
    ax.set_xscale("log")
    ax.set_xlabel(r"$\pi(\bar y)$ before the step")
    ax.set_ylabel(r"peakiness $a$,  $\pi_i \propto (i+1)^{-a}$")
    ax.set_title(title)
    ax.grid(False)
    fig.colorbar(mesh, ax=ax, label=label)


def plot(d: Phase, cfg: Config) -> Figure:
    fig = style.new_figure(13, 5.2)
    axes = fig.subplots(1, 2)
    _panel(
        fig,
        axes[0],
        d,
        d.falling,
        "falling labels",
        r"fraction of labels $\neq\bar y$ that fall",
        cmap="viridis",
        vmin=0,
        vmax=1,
    )
    lim = style.symmetric_limit(d.squeezed)
    _panel(
        fig,
        axes[1],
        d,
        d.squeezed,
        "squeezed mass (red: the argmax takes it)",
        r"$1 - m'/m$,  $m = 1 - \pi(\rm argmax) - \pi(\bar y)$",
        cmap=style.DIVERGING,
        vmin=-lim,
        vmax=lim,
    )
    handle = axes[0].plot(
        [],
        [],
        color=style.BLACK,
        lw=2,
        label="above and left of the black line, only the argmax rises",
    )[0]
    fig.legend(handles=[handle], loc="outside lower center")
    fig.suptitle(
        rf"Phase diagram of squeezing: one negative step on $\bar y$ (V = {d.vocab}, K = I, η = {d.lr:g})"
    )
    return fig
