"""Figure 2 — influence on real data: learning one "4" moves the predictions of other digits.

The paper's Figure 1 idea on scikit-learn's bundled 8×8 digits (offline). A small ReLU network is
trained on a few hundred digits; then one SGD step on a held-out "4" (x_u, y_u = 4) changes
log π(·|x_o) on every observed digit. The first-order prediction −η A(x_o) K(x_o, x_u) G(x_u),
with the network's eNTK K = J(x_o) J(x_u)ᵀ, is drawn beside the actual change. The heat map
accumulates the predicted influence of one step on each training digit, per (trained, observed)
class, on the observed digit's own label.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure
from sklearn.datasets import load_digits

from simulator import MLP, apply_a, relative_error
from simulator import digits as net

from .. import style


@dataclass(frozen=True)
class Config:
    n_train: int = 300  # digits the network is trained on
    n_probe: int = 300  # held-out digits whose predictions we observe
    width: int = 32  # hidden units H
    train_lr: float = 1.0
    train_steps: int = 300  # full-batch gradient descent
    lr: float = 0.25  # η of the single SGD step on x_u: first-order error ≈ 5%
    y_u: int = 4  # the class learned in the single step
    quantile: float = 0.25  # x_u: the held-out y_u digit at this quantile of π(y_u|x_u)
    shown: tuple[int, ...] = (4, 9, 1)  # observed classes drawn as examples
    seed: int = 0


TINY = Config(n_train=60, n_probe=40, width=8, train_steps=20)


def load(rng: np.random.Generator) -> net.Digits:
    """All 1797 bundled 8×8 digits (offline, shipped with scikit-learn), shuffled by `rng`."""
    data = load_digits()
    order = rng.permutation(data.target.size)
    return net.Digits(data.data[order] / 16.0, data.target[order])


@dataclass(frozen=True)
class DigitsInfluence:
    x_u: np.ndarray  # (64,)
    probe: net.Digits
    pi: np.ndarray  # π(·|x_o) before the step, (No, V)
    actual: np.ndarray  # Δ log π(·|x_o), (No, V)
    predicted: np.ndarray  # −η A K G, (No, V)
    shown: list[int]  # probe indices of the example digits
    influence: np.ndarray  # (V, V): [trained class, observed class]
    train_acc: float
    probe_acc: float
    lr: float
    y_u: int


def _most_similar(k_o_u: np.ndarray, labels: np.ndarray, classes) -> list[int]:
    """Per class, the observed digit with the largest ‖K(x_o, x_u)‖_F (classes absent are skipped)."""
    norm = np.linalg.norm(k_o_u, axis=(1, 2))
    return [
        int(np.flatnonzero(labels == c)[np.argmax(norm[labels == c])])
        for c in classes
        if np.any(labels == c)
    ]


def _class_influence(
    mlp: MLP, train: net.Digits, probe: net.Digits, j_o: np.ndarray, lr: float
) -> np.ndarray:
    """Σ_{u in class c_u} mean_{o in class c_o} of the predicted Δ log π(y_o|x_o). Shape: (V, V)."""
    j_u = net.jacobian(mlp, train.x)
    g_u = net.residual(mlp, train.x, train.y)
    pi = np.exp(net.logp(mlp, probe.x))
    delta = net.first_order_changes(j_o, j_u, g_u, pi, lr)  # (No, Nu, V)
    own = delta[np.arange(probe.y.size), :, probe.y]  # (No, Nu): Δ log π(y_o|x_o)
    out = np.zeros((net.N_CLASSES, net.N_CLASSES))
    for cu in range(net.N_CLASSES):
        for co in range(net.N_CLASSES):
            block = own[np.ix_(probe.y == co, train.y == cu)]
            out[cu, co] = block.mean(0).sum() if block.size else np.nan
    return out


def compute(cfg: Config) -> DigitsInfluence:
    rng = np.random.default_rng(cfg.seed)
    data = load(rng)
    train, probe = net.split(data, cfg.n_train, cfg.n_probe)
    mlp = net.train(
        MLP.init(rng, data.x.shape[1], cfg.width, net.N_CLASSES),
        train,
        cfg.train_lr,
        cfg.train_steps,
    )
    rest = net.Digits(data.x[cfg.n_train + cfg.n_probe :], data.y[cfg.n_train + cfg.n_probe :])
    candidates = np.flatnonzero(rest.y == cfg.y_u)
    confidence = np.exp(net.logp(mlp, rest.x[candidates]))[:, cfg.y_u]
    pick = np.argsort(confidence)[int(cfg.quantile * (candidates.size - 1))]
    x_u = rest.x[candidates[pick]]  # a typical "4" that still has a sizeable residual G

    j_o = net.jacobian(mlp, probe.x)
    k_o_u = net.entk(j_o, net.jacobian(mlp, x_u[None]))[:, 0]  # (No, V, V)
    g_u = net.residual(mlp, x_u[None], np.array([cfg.y_u]))[0]  # (V,)
    pi = np.exp(net.logp(mlp, probe.x))
    predicted = -cfg.lr * apply_a(pi, k_o_u @ g_u)  # Proposition 1 with the eNTK
    actual = net.logp(net.sgd_step(mlp, x_u, cfg.y_u, cfg.lr), probe.x) - net.logp(mlp, probe.x)
    return DigitsInfluence(
        x_u=x_u,
        probe=probe,
        pi=pi,
        actual=actual,
        predicted=predicted,
        shown=_most_similar(k_o_u, probe.y, cfg.shown),
        influence=_class_influence(mlp, train, probe, j_o, cfg.lr),
        train_acc=net.accuracy(mlp, train),
        probe_acc=net.accuracy(mlp, probe),
        lr=cfg.lr,
        y_u=cfg.y_u,
    )


def _image(ax, x: np.ndarray, title: str) -> None:
    ax.imshow(x.reshape(8, 8), cmap="gray_r")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    ax.set_title(title)


def _example_bars(ax, d: DigitsInfluence, o: int) -> None:
    labels = np.arange(net.N_CLASSES)
    colors = [style.GREY] * net.N_CLASSES
    colors[d.y_u] = style.BLUE
    colors[d.probe.y[o]] = style.BLACK if d.probe.y[o] != d.y_u else style.BLUE
    ax.bar(labels - 0.2, d.actual[o], 0.4, color=colors, label="actual")
    ax.bar(
        labels + 0.2, d.predicted[o], 0.4, fill=False, edgecolor=style.BLACK, label=r"$-\eta AKG$"
    )
    ax.axhline(0, color=style.BLACK, lw=0.8)
    ax.set_xticks(labels)
    ax.set_xlabel("label y")
    ax.set_ylabel(r"$\Delta\log\pi(y\,|\,x_o)$")
    ax.set_title(f'observed "{d.probe.y[o]}": label {d.y_u} blue, own label black', fontsize=9.5)
    ax.legend(loc="best")


def _top_row(sub, d: DigitsInfluence) -> None:
    n = len(d.shown)
    axes = sub.subplots(1, 1 + 2 * n, width_ratios=[1.1] + [0.8, 2.2] * n)
    _image(axes[0], d.x_u, rf'learn $x_u$ = "{d.y_u}"')
    for i, o in enumerate(d.shown):
        _image(axes[1 + 2 * i], d.probe.x[o], rf'$x_o$ = "{d.probe.y[o]}"')
        _example_bars(axes[2 + 2 * i], d, o)


def _scatter(ax, d: DigitsInfluence) -> None:
    cls = np.broadcast_to(d.probe.y[:, None], d.actual.shape)
    groups = [
        (cls != d.y_u, style.GREY, "other digits"),
        (cls == d.y_u, style.BLUE, f'observed "{d.y_u}"s'),
    ]
    for mask, color, label in groups:
        ax.scatter(d.predicted[mask], d.actual[mask], s=6, c=color, alpha=0.6, label=label)
    lim = style.symmetric_limit(d.actual, d.predicted) * 1.05
    ax.plot([-lim, lim], [-lim, lim], color=style.BLACK, ls="--", lw=1, label="actual = predicted")
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal")
    ax.set_xlabel(r"predicted $-\eta\,A\,K\,G$ (eNTK)")
    ax.set_ylabel(r"actual $\Delta\log\pi(y\,|\,x_o)$")
    ax.set_title(
        f"all {d.actual.size} (digit, label) pairs: rel. error {relative_error(d.actual, d.predicted):.1%}"
    )
    ax.legend(loc="upper left", markerscale=2)


def _per_class(ax, d: DigitsInfluence) -> None:
    own = np.arange(d.probe.y.size), d.probe.y
    classes = np.arange(net.N_CLASSES)
    present = [c for c in classes if np.any(d.probe.y == c)]
    for shift, values, kw in (
        (-0.2, d.actual[own], {"color": style.BLUE, "label": "actual"}),
        (0.2, d.predicted[own], {"fill": False, "edgecolor": style.BLACK, "label": r"$-\eta AKG$"}),
    ):
        means = [values[d.probe.y == c].mean() for c in present]
        ax.bar(np.array(present) + shift, means, 0.4, **kw)
    ax.axhline(0, color=style.BLACK, lw=0.8)
    ax.set_xticks(classes)
    ax.set_xlabel(r"observed class $y_o$")
    ax.set_ylabel(r"mean $\Delta\log\pi(y_o\,|\,x_o)$")
    ax.set_title(f'learning one "{d.y_u}": change of each digit\'s own label, per class')
    ax.legend(loc="best")


def _heat_map(sub, ax, d: DigitsInfluence) -> None:
    lim = style.symmetric_limit(np.nan_to_num(d.influence))
    im = ax.imshow(d.influence, cmap=style.DIVERGING, vmin=-lim, vmax=lim)
    ax.set_xticks(np.arange(net.N_CLASSES))
    ax.set_yticks(np.arange(net.N_CLASSES))
    ax.set_xlabel(r"observed class $y_o$")
    ax.set_ylabel(r"trained class $y_u$")
    ax.set_title("accumulated influence: one step on every\ntraining digit, predicted by the eNTK")
    ax.grid(False)
    sub.colorbar(im, ax=ax, label=r"$\Sigma_u$ mean$_o$ $\Delta\log\pi(y_o|x_o)$")


def plot(d: DigitsInfluence, cfg: Config) -> Figure:
    fig = style.new_figure(16, 9)
    top, bottom = fig.subfigures(2, 1, height_ratios=[1, 1.45])
    _top_row(top, d)
    axes = bottom.subplots(1, 3)
    _scatter(axes[0], d)
    _per_class(axes[1], d)
    _heat_map(bottom, axes[2], d)
    fig.suptitle(
        f'One SGD step (η = {d.lr:g}) on one "{d.y_u}" moves every digit\'s prediction — sklearn '
        f"digits, MLP (train acc {d.train_acc:.0%}, held-out {d.probe_acc:.0%})"
    )
    return fig
