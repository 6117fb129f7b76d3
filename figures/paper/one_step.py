"""Figure 1 — one step, decomposed: actual Δ log π against −η A K G, with the three factors.

Proposition 1 (Sec. 3.1): Δ log π(x_o) = −η A(x_o) K(x_o, x_u) G(x_u) + O(η²). One DPO step on
the simulator's documented random problem (`simulator.random_problem`), where the kernel is fixed,
so the only gap between actual and predicted is the O(η²) curvature of log-softmax.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from simulator import StepResult, random_problem, take_step

from .. import style

U = 0  # random_problem updates on input 0


@dataclass(frozen=True)
class Config:
    loss: str = "dpo"  # a loss from simulator.LOSSES with a chosen/rejected pair
    n_inputs: int = 6  # N inputs x_o
    vocab: int = 8  # V labels
    lr: float = 4.0  # η; β = 0.1 makes DPO's residual small, so a large η shows a visible step
    seed: int = 3


TINY = Config(n_inputs=3, vocab=4)


@dataclass(frozen=True)
class OneStep:
    step: StepResult
    chosen: int
    rejected: int
    neighbour: int  # the observed input o ≠ u with the largest |K(x_o, x_u)|
    loss: str


def compute(cfg: Config) -> OneStep:
    problem = random_problem(np.random.default_rng(cfg.seed), cfg.loss, cfg.n_inputs, cfg.vocab)
    step = take_step(problem.z, problem.k, cfg.loss, problem.batch, cfg.lr, problem.ref_z)
    k_row = np.abs(problem.k[U]).copy()
    k_row[U] = -np.inf
    return OneStep(
        step,
        int(problem.batch.groups["chosen"].tokens[0]),
        int(problem.batch.groups["rejected"].tokens[0]),
        int(np.argmax(k_row)),
        cfg.loss,
    )


def _label_colors(d: OneStep, vocab: int) -> list[str]:
    colors = [style.GREY] * vocab
    colors[d.chosen], colors[d.rejected] = style.BLUE, style.ORANGE
    return colors


def _scatter(ax, d: OneStep) -> None:
    s = d.step
    is_u = np.zeros(s.actual.shape, bool)
    is_u[U] = True
    ax.scatter(s.predicted[~is_u], s.actual[~is_u], s=14, c=style.GREY, label=r"$x_o \neq x_u$")
    ax.scatter(
        s.predicted[is_u], s.actual[is_u], s=22, c=style.BLACK, marker="D", label=r"$x_o = x_u$"
    )
    lim = style.symmetric_limit(s.actual, s.predicted) * 1.1
    ax.plot([-lim, lim], [-lim, lim], color=style.GREY, ls="--", lw=1, label="actual = predicted")
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal")
    ax.set_xlabel(r"predicted $-\eta\,A\,K\,G$")
    ax.set_ylabel(r"actual $\Delta\log\pi$")
    ax.set_title(f"every (input, label): rel. error {s.relative_error:.1%}")
    ax.legend(loc="upper left")


def _bars(ax, d: OneStep, o: int, title: str) -> None:
    s = d.step
    labels = np.arange(s.pi.shape[1])
    ax.bar(labels - 0.2, s.actual[o], 0.4, color=_label_colors(d, labels.size), label="actual")
    ax.bar(
        labels + 0.2, s.predicted[o], 0.4, fill=False, edgecolor=style.BLACK, label=r"$-\eta AKG$"
    )
    ax.axhline(0, color=style.BLACK, lw=0.8)
    ax.set_xticks(labels, _tick_labels(d, labels.size))
    ax.set_xlabel("label y")
    ax.set_ylabel(r"$\Delta\log\pi(y\,|\,x_o)$")
    ax.set_title(title)
    ax.legend(loc="best")


def _tick_labels(d: OneStep, vocab: int) -> list[str]:
    ticks = [str(i) for i in range(vocab)]
    ticks[d.chosen], ticks[d.rejected] = r"$y^+_u$", r"$y^-_u$"
    return ticks


def _factor_a(fig, ax, d: OneStep) -> None:
    a = d.step.a(U)
    im = ax.imshow(a, cmap=style.DIVERGING, vmin=-1, vmax=1)
    ax.set_title(r"$A(x_u) = I - \mathbf{1}\pi^\top$")
    ax.set_xlabel("logit j")
    ax.set_ylabel("label i")
    ax.grid(False)
    fig.colorbar(im, ax=ax, shrink=0.8)


def _factor_k(fig, ax, d: OneStep) -> None:
    k = d.step.k
    lim = style.symmetric_limit(k)
    im = ax.imshow(k, cmap=style.DIVERGING, vmin=-lim, vmax=lim)
    ax.add_patch(Rectangle((-0.5, U - 0.5), k.shape[1], 1, fill=False, ec=style.BLACK, lw=2))
    ax.set_title(r"$K(x_o, x_{o'})$; boxed: the row $K(x_u, \cdot)$ in use")
    ax.set_xlabel(r"input $o'$")
    ax.set_ylabel("input o")
    ax.grid(False)
    fig.colorbar(im, ax=ax, shrink=0.8)


def _factor_g(ax, d: OneStep) -> None:
    g = d.step.g[U]
    labels = np.arange(g.size)
    ax.bar(labels, g, color=_label_colors(d, g.size))
    ax.axhline(0, color=style.BLACK, lw=0.8)
    ax.set_xticks(labels, _tick_labels(d, g.size))
    ax.set_title(r"$G(x_u) = \partial\mathcal{L}/\partial z$")
    ax.set_xlabel("label y")
    ax.set_ylabel("residual")


def plot(d: OneStep, cfg: Config) -> Figure:
    fig = style.new_figure(14, 7.5)
    axes = fig.subplots(2, 3)
    _scatter(axes[0, 0], d)
    _bars(axes[0, 1], d, U, r"updated input $x_u$: $y^+_u$ up, $y^-_u$ down")
    k_ou = d.step.k[d.neighbour, U]
    _bars(
        axes[0, 2],
        d,
        d.neighbour,
        rf"neighbour $x_{{{d.neighbour}}}$: moved through $K(x_{{{d.neighbour}}}, x_u)$ = {k_ou:.2f}",
    )
    _factor_a(fig, axes[1, 0], d)
    _factor_k(fig, axes[1, 1], d)
    _factor_g(axes[1, 2], d)
    fig.suptitle(
        rf"One {d.loss.upper()} step decomposed (η = {d.step.lr:g}): "
        r"$\Delta\log\pi(x_o) = -\eta\,A(x_o)\,K(x_o,x_u)\,G(x_u) + O(\eta^2)$"
    )
    return fig
