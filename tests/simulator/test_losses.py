"""Each loss's analytic residual G = ∂L/∂z against a central finite difference of the loss."""

import numpy as np
import pytest

from simulator import LOSSES, Responses, UpdateBatch, loss_and_residual

N, V = 4, 6


def _batch(loss: str, rng: np.random.Generator) -> UpdateBatch:
    """Two-token responses on distinct rows, so the chain rule over positions is exercised."""
    rows = [rng.choice(N, size=2, replace=False) for _ in range(2)]
    toks = [rng.integers(V, size=2) for _ in range(2)]
    if LOSSES[loss].groups == ("chosen", "rejected"):
        return UpdateBatch(
            {
                "chosen": Responses.from_sequences(rows[:1], toks[:1]),
                "rejected": Responses.from_sequences(rows[1:], toks[1:]),
            }
        )
    advantage = np.array([1.3, -0.7]) if loss == "pg" else None
    return UpdateBatch({"y": Responses.from_sequences(rows, toks)}, advantage)


def _finite_difference(loss, z, batch, ref_z, eps=1e-6):
    grad = np.zeros_like(z)
    for idx in np.ndindex(z.shape):
        up, down = z.copy(), z.copy()
        up[idx] += eps
        down[idx] -= eps
        grad[idx] = (
            loss_and_residual(loss, up, batch, ref_z)[0].loss
            - loss_and_residual(loss, down, batch, ref_z)[0].loss
        ) / (2 * eps)
    return grad


@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("seed", range(3))
def test_residual_equals_finite_difference_gradient(loss, seed):
    rng = np.random.default_rng(seed)
    z = 2.0 * rng.standard_normal((N, V))
    ref_z = z + 0.3 * rng.standard_normal((N, V))
    batch = _batch(loss, rng)
    _, g = loss_and_residual(loss, z, batch, ref_z)
    # Central differences in float64 with eps = 1e-6 have truncation error O(eps²·|L'''|) ≈ 1e-12
    # and round-off O(1e-16·|L|/eps) ≈ 1e-9 for |L| ≲ 10; atol 1e-6 leaves a wide margin. The
    # SLiC hinge and the PPO clip have kinks, which random float64 inputs miss almost surely.
    np.testing.assert_allclose(g, _finite_difference(loss, z, batch, ref_z), atol=1e-6)


def test_sft_residual_is_pi_minus_onehot():
    z = np.array([[0.5, -1.0, 2.0]])
    _, g = loss_and_residual("sft", z, UpdateBatch({"y": Responses.single_labels([0], [1])}))
    pi = np.exp(z[0]) / np.exp(z[0]).sum()
    np.testing.assert_allclose(g[0], pi - np.eye(3)[1], atol=1e-15)


def test_dpo_residuals_have_opposite_signs_and_scale_beta_half_at_reference():
    """With π_ref = π, a = σ(0) = ½, so G± = ±(β/2)(π − e_{y±})."""
    z = np.array([[0.2, 1.0, -0.3, 0.0]])
    beta = 0.5
    pair = {
        "chosen": Responses.single_labels([0], [0]),
        "rejected": Responses.single_labels([0], [2]),
    }
    _, g = loss_and_residual("dpo", z, UpdateBatch(pair), beta=beta)
    # The π terms cancel between chosen and rejected on the shared row: G = (β/2)(e_{y⁻} − e_{y⁺}).
    np.testing.assert_allclose(g[0], beta / 2 * (np.eye(4)[2] - np.eye(4)[0]), atol=1e-15)


def test_unknown_loss_is_a_value_error_that_names_the_known_ones():
    with pytest.raises(ValueError, match="known: dpo"):
        loss_and_residual("nope", np.zeros((1, 2)), UpdateBatch({}))
