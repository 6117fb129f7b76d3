"""Kernels: the MLP eNTK against an explicit finite-difference Jacobian product; scalar ≡ block."""

import numpy as np

from simulator import MLP, apply_kernel, kernel_block, linear_kernel, mlp_entk, rbf_kernel


def _jacobian(mlp: MLP, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """J = ∂ vec z(x)/∂θ by central differences. Shape: (N·V, P)."""
    theta = mlp.params()
    cols = []
    for p in range(theta.size):
        up, down = theta.copy(), theta.copy()
        up[p] += eps
        down[p] -= eps
        cols.append(
            (mlp.with_params(up).logits(x) - mlp.with_params(down).logits(x)).ravel() / (2 * eps)
        )
    return np.stack(cols, axis=1)


def test_mlp_entk_equals_explicit_jacobian_product():
    rng = np.random.default_rng(0)
    mlp = MLP.init(rng, d=3, width=8, v=4)
    x = rng.standard_normal((5, 3))
    j = _jacobian(mlp, x)
    # Central differences on a piecewise-linear net are exact away from ReLU kinks up to
    # round-off ~1e-16/eps = 1e-10 per entry; summed over P ≈ 70 parameters, 1e-7 is safe.
    np.testing.assert_allclose(mlp_entk(mlp, x), j @ j.T, atol=1e-7)


def test_kernels_are_symmetric_psd():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 3))
    for k in (linear_kernel(x), rbf_kernel(x, 0.7), mlp_entk(MLP.init(rng, 3, 16, 3), x)):
        np.testing.assert_allclose(k, k.T, atol=1e-12)
        # Eigenvalues of a PSD matrix are ≥ 0 up to round-off relative to its largest one.
        assert np.linalg.eigvalsh(k).min() >= -1e-10 * np.abs(k).max()


def test_scalar_kernel_acts_as_its_kronecker_block_kernel():
    rng = np.random.default_rng(2)
    n, v = 4, 5
    k = linear_kernel(rng.standard_normal((n, 3)))
    g = rng.standard_normal((n, v))
    np.testing.assert_allclose(
        apply_kernel(k, g), apply_kernel(np.kron(k, np.eye(v)), g), atol=1e-12
    )
    np.testing.assert_allclose(kernel_block(k, 1, 2, n, v), k[1, 2] * np.eye(v))
