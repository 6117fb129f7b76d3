"""A small network on handwritten digits, with its explicit Jacobian and eNTK.

The network is the simulator's one-hidden-layer ReLU `MLP` (NTK parametrisation); here it is
trained, by plain full-batch gradient descent on the mean cross-entropy. Everything is numpy and
the network is small (64 → H → 10), so the Jacobian J(x) = ∂z(x)/∂θ is formed explicitly and the
eNTK is K(x_o, x_u) = J(x_o) J(x_u)ᵀ (Sec. 3.1; the paper's Figure 1 uses the same idea on MNIST).
The digits themselves (scikit-learn's bundled 8×8 images) are loaded by the figure that draws them,
`figures.paper.digits_influence.load`: this module takes arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .kernels import MLP, relu
from .softmax import apply_a, log_softmax, softmax

N_CLASSES = 10


@dataclass(frozen=True)
class Digits:
    """Images as pixel vectors in [0, 1] and their labels. Shapes: x (N, 64), y (N,)."""

    x: np.ndarray
    y: np.ndarray


def split(d: Digits, n_train: int, n_probe: int) -> tuple[Digits, Digits]:
    """The first n_train examples to train on, the next n_probe to observe."""
    probe = slice(n_train, n_train + n_probe)
    return Digits(d.x[:n_train], d.y[:n_train]), Digits(d.x[probe], d.y[probe])


def residual(mlp: MLP, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """G = ∂CE/∂z = π − e_y per example (Eq. 5). Shape: (N, V)."""
    g = softmax(mlp.logits(x))
    g[np.arange(y.size), y] -= 1.0
    return g


def param_grad(mlp: MLP, x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Σ_i J(x_i)ᵀ G_i by backpropagation, flattened like `MLP.params`. Shape: g (N, V) → (P,)."""
    width = mlp.b1.size
    pre = x @ mlp.w1.T + mlp.b1  # (N, H)
    h = relu(pre)
    d_pre = (g @ mlp.w2) * (pre > 0) / np.sqrt(width)  # (N, H)
    parts = (d_pre.T @ x, d_pre.sum(0), g.T @ h / np.sqrt(width), g.sum(0))
    return np.concatenate([p.ravel() for p in parts])


def jacobian(mlp: MLP, x: np.ndarray) -> np.ndarray:
    """J[i, a] = ∂z_a(x_i)/∂θ, ordered like `MLP.params` (w1, b1, w2, b2). Shape: (N, V, P).

    ∂z_a/∂W₁[k, j] = W₂[a, k] s_k x_j/√H,  ∂z_a/∂b₁[k] = W₂[a, k] s_k/√H,  s = relu′(W₁x + b₁)
    ∂z_a/∂W₂[b, k] = δ_ab h_k/√H,          ∂z_a/∂b₂[b] = δ_ab,             h = relu(W₁x + b₁)
    """
    n, v, width = x.shape[0], mlp.b2.size, mlp.b1.size
    pre = x @ mlp.w1.T + mlp.b1  # (N, H)
    ws = (pre > 0)[:, None, :] * mlp.w2[None] / np.sqrt(width)  # (N, V, H)
    eye = np.eye(v)
    h = relu(pre)[:, None, None, :] / np.sqrt(width)  # (N, 1, 1, H)
    blocks = (
        (ws[:, :, :, None] * x[:, None, None, :]).reshape(n, v, -1),  # w1
        ws,  # b1
        (eye[None, :, :, None] * h).reshape(n, v, -1),  # w2
        np.broadcast_to(eye, (n, v, v)),  # b2
    )
    return np.concatenate(blocks, axis=2)


def entk(j_o: np.ndarray, j_u: np.ndarray) -> np.ndarray:
    """K(x_o, x_u) = J(x_o) J(x_u)ᵀ for every pair. Shape: (No, V, P), (Nu, V, P) → (No, Nu, V, V)."""
    return np.einsum("iap,jbp->ijab", j_o, j_u)


def first_order_changes(
    j_o: np.ndarray, j_u: np.ndarray, g_u: np.ndarray, pi_o: np.ndarray, lr: float
) -> np.ndarray:
    """−η A(x_o) K(x_o, x_u) G(x_u) for every (o, u) pair, one step on each x_u alone (Prop. 1).

    K(x_o, x_u) G(x_u) = J(x_o) [J(x_u)ᵀ G(x_u)]: each update needs only its parameter gradient,
    never the (No, Nu, V, V) kernel (`entk` is the naive twin the tests compare against).
    Shapes: j_o (No, V, P), j_u (Nu, V, P), g_u (Nu, V), pi_o (No, V) → (No, Nu, V).
    """
    grads = np.einsum("uap,ua->up", j_u, g_u)  # (Nu, P)
    kg = np.einsum("oap,up->oua", j_o, grads)  # (No, Nu, V)
    return -lr * apply_a(pi_o[:, None, :], kg)


def train(mlp: MLP, data: Digits, lr: float, steps: int) -> MLP:
    """Full-batch gradient descent on the mean cross-entropy."""
    theta = mlp.params()
    for _ in range(steps):
        mlp = mlp.with_params(theta)
        theta = theta - lr * param_grad(mlp, data.x, residual(mlp, data.x, data.y)) / data.y.size
    return mlp.with_params(theta)


def sgd_step(mlp: MLP, x_u: np.ndarray, y_u: int, lr: float) -> MLP:
    """One SGD step of size η on the cross-entropy of the single example (x_u, y_u)."""
    grad = param_grad(mlp, x_u[None], residual(mlp, x_u[None], np.array([y_u])))
    return mlp.with_params(mlp.params() - lr * grad)


def accuracy(mlp: MLP, data: Digits) -> float:
    return float(np.mean(np.argmax(mlp.logits(data.x), axis=1) == data.y))


def logp(mlp: MLP, x: np.ndarray) -> np.ndarray:
    """log π(·|x). Shape: (N, 64) → (N, V)."""
    return log_softmax(mlp.logits(x))
