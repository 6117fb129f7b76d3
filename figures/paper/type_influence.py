"""Figure 9 — which responses move which: trained-type × observed-type influence at π₀.

One full-batch step on every training prompt's response of one probe type (a row), from the
pretrained π₀ of the probe world, changes log π(y|x_u) of every probe type (a column). Left: a
positive (SFT) step, which lifts what shares its format and content with the trained response.
Right: a negative step, which pushes the trained response down and, by squeezing, lifts y*.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from simulator.experiments import probe_batches, seed_streams
from simulator.metrics import PROBE_TYPES, evaluate
from simulator.sequences import Batch, Readout, gradient, residual_of

from .. import style
from . import probe_world


@dataclass(frozen=True)
class Config(probe_world.CurveConfig):
    lr: float = 0.5  # η of the single step (the experiments' default)


TINY = Config(world=probe_world.TINY_WORLD)
SIGNS = (
    ("sft", "positive gradient (SFT) on the row type"),
    ("negative", "negative gradient on the row type"),
)


@dataclass(frozen=True)
class Influence:
    trained: tuple[str, ...]
    observed: tuple[str, ...]
    delta: dict[str, np.ndarray]  # loss → (trained, observed) mean Δ log π(y|x_u)
    lr: float


def _logp(model: Readout, probes: dict[str, Batch]) -> dict[str, float]:
    return {name: v for name, metric, v in evaluate(model, probes) if metric == "logp"}


def one_step_change(
    model: Readout, loss: str, trained: Batch, probes: dict[str, Batch], lr: float
) -> dict[str, float]:
    """Δ mean log π(y|x_u) of every probe type after one step of `loss` on `trained`."""
    _, g, phi = residual_of(model, loss, {"y": trained}, None)
    after = model.with_m(model.m - lr * gradient(model, phi, g) / trained.n)
    before, now = _logp(model, probes), _logp(after, probes)
    return {name: now[name] - before[name] for name in before}


def compute(cfg: Config) -> Influence:
    world, pi0 = probe_world.start(cfg.seed, cfg.world)
    probes = probe_batches(world, pi0, seed_streams(np.random.default_rng(cfg.seed))[1])
    trained = tuple(probes)
    observed = tuple(t for t in PROBE_TYPES if t in trained or t == "y_star")
    delta = {}
    for loss, _ in SIGNS:
        rows = [one_step_change(pi0, loss, probes[t], probes, cfg.lr) for t in trained]
        delta[loss] = np.array([[row[o] for o in observed] for row in rows])
    return Influence(trained, observed, delta, cfg.lr)


def _heat(fig, ax, d: Influence, loss: str, title: str, lim: float) -> None:
    values = d.delta[loss]
    im = ax.imshow(values, cmap=style.DIVERGING, vmin=-lim, vmax=lim, aspect="auto")
    for (i, j), v in np.ndenumerate(values):
        ax.text(
            j,
            i,
            f"{v:.1f}",
            ha="center",
            va="center",
            fontsize=6.5,
            color="white" if abs(v) > 0.6 * lim else "black",
        )
    ax.set_xticks(
        np.arange(len(d.observed)),
        [style.probe_style(t).label for t in d.observed],
        rotation=45,
        ha="right",
        rotation_mode="anchor",
    )
    ax.set_yticks(np.arange(len(d.trained)), [style.probe_style(t).label for t in d.trained])
    ax.set_xlabel(r"observed type $y_o$")
    ax.set_ylabel(r"trained type $y_u$")
    ax.set_title(title)
    ax.grid(False)
    fig.colorbar(im, ax=ax, label=r"$\Delta\log\pi(y_o\,|\,x_u)$, one step")


def plot(d: Influence, cfg: Config) -> Figure:
    fig = style.new_figure(16, 6.2)
    lim = style.symmetric_limit(*d.delta.values())
    for ax, (loss, title) in zip(fig.subplots(1, len(SIGNS)), SIGNS):
        _heat(fig, ax, d, loss, title, lim)
    fig.suptitle(
        rf"Influence between probe types: one step (η = {d.lr:g}) from $\pi_0$ on one type, "
        "the change of every type"
    )
    return fig
