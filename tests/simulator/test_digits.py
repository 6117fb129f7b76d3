"""The digits network's explicit Jacobian, its eNTK and one step against Proposition 1."""

import numpy as np
import pytest

pytest.importorskip("matplotlib")  # the loader lives in the digits figure (figures extra)
pytest.importorskip("sklearn")  # the real digits: scikit-learn's bundled copy

from figures.paper.digits_influence import load  # noqa: E402  (after the skip)
from simulator import MLP, apply_a, mlp_entk, relative_error  # noqa: E402
from simulator import digits as net  # noqa: E402


def _small(seed=0, n=12, width=8):
    rng = np.random.default_rng(seed)
    data = load(rng)
    mlp = MLP.init(rng, data.x.shape[1], width, net.N_CLASSES)
    return mlp, net.Digits(data.x[:n], data.y[:n])


def test_jacobian_entk_equals_the_simulators_closed_form():
    """J Jᵀ from the explicit Jacobian equals `simulator.mlp_entk` (an independent derivation).

    atol 1e-10: the same sums in another order; entries are O(10).
    """
    mlp, d = _small()
    j = net.jacobian(mlp, d.x)
    k = net.entk(j, j)  # (N, N, V, V)
    n, v = d.y.size, net.N_CLASSES
    assert np.allclose(
        k.transpose(0, 2, 1, 3).reshape(n * v, n * v), mlp_entk(mlp, d.x), atol=1e-10
    )


def test_backprop_gradient_equals_jacobian_transpose_residual():
    """param_grad (backprop, used for training) = Σ_i J(x_i)ᵀ G_i (the explicit Jacobian)."""
    mlp, d = _small()
    g = net.residual(mlp, d.x, d.y)
    assert np.allclose(
        net.param_grad(mlp, d.x, g), np.einsum("iap,ia->p", net.jacobian(mlp, d.x), g)
    )


def test_jacobian_matches_finite_differences():
    """central differences, h = 1e-6: error O(h²) away from ReLU kinks; rtol 1e-5."""
    mlp, d = _small(n=2)
    theta, h = mlp.params(), 1e-6
    j = net.jacobian(mlp, d.x)
    for p in np.random.default_rng(1).choice(theta.size, 20, replace=False):
        e = np.zeros_like(theta)
        e[p] = h
        fd = (mlp.with_params(theta + e).logits(d.x) - mlp.with_params(theta - e).logits(d.x)) / (
            2 * h
        )
        assert np.allclose(fd, j[:, :, p], rtol=1e-5, atol=1e-7)


def test_one_sgd_step_follows_proposition_1_to_first_order():
    """Δ log π(x_o) = −η A K G + O(η²): halving η roughly quarters the gap."""
    mlp, d = _small(n=30, width=16)
    x_u, y_u = d.x[0], int(d.y[0])
    j_o = net.jacobian(mlp, d.x)
    k = net.entk(j_o, net.jacobian(mlp, x_u[None]))[:, 0]
    g = net.residual(mlp, x_u[None], np.array([y_u]))[0]
    pi = np.exp(net.logp(mlp, d.x))
    errors = []
    for lr in (1e-2, 5e-3):
        actual = net.logp(net.sgd_step(mlp, x_u, y_u, lr), d.x) - net.logp(mlp, d.x)
        errors.append(relative_error(actual, -lr * apply_a(pi, k @ g)))
    assert errors[0] < 0.05
    assert errors[1] < 0.7 * errors[0]


def test_training_fits_the_digits():
    rng = np.random.default_rng(0)
    train, _ = net.split(load(rng), 100, 0)
    mlp = net.train(MLP.init(rng, 64, 16, net.N_CLASSES), train, lr=1.0, steps=100)
    assert net.accuracy(mlp, train) > 0.9


def test_fast_first_order_changes_equal_the_explicit_a_k_g():
    """J(x_o)[J(x_u)ᵀ G] (fast, no kernel) = −η A K G with the explicit eNTK blocks (naive twin)."""
    mlp, d = _small(n=10)
    j = net.jacobian(mlp, d.x)
    g = net.residual(mlp, d.x[:4], d.y[:4])
    pi = np.exp(net.logp(mlp, d.x))
    fast = net.first_order_changes(j, j[:4], g, pi, lr=0.3)
    k = net.entk(j, j[:4])  # (No, Nu, V, V)
    naive = -0.3 * apply_a(pi[:, None, :], np.einsum("ouab,ub->oua", k, g))
    assert np.allclose(fast, naive, atol=1e-12)
