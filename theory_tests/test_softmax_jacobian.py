"""C2: the log-softmax Jacobian A = I − 1πᵀ (Sec. 3.1, Eq. 3; Appendix on ‖A‖_F).

Both null-vector identities hold for A = I − 1πᵀ, checked here rather than assumed:

    A 1   = 1 − 1(πᵀ1)     = 0   (a shift of all logits changes nothing),
    πᵀ A  = πᵀ − (πᵀ1)πᵀ   = 0   (so πᵀ A Δz = Σ_i π_i Δ log π_i = 0 to first order),
    ‖A‖_F² = Σ_ij (δ_ij − π_j)² = V − 2 + V‖π‖².

The transposed matrix I − π1ᵀ satisfies neither null identity (unless π is uniform), which is what
these tests pin down.
"""

from __future__ import annotations

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from simulator import a_frobenius_sq, a_matrix, apply_a, softmax

from .strategies import FINITE, LOGIT_BOUND, logit_vectors

# z and an arbitrary direction v of the same length.
logits_and_directions = logit_vectors().flatmap(
    lambda z: st.tuples(
        st.just(z), arrays(np.float64, z.size, elements=st.floats(-50.0, 50.0, **FINITE))
    )
)

V2 = np.array([0.0, 3.0])
UNIFORM = np.zeros(7)
ONE_HOT = np.array([LOGIT_BOUND, -LOGIT_BOUND, -LOGIT_BOUND, -LOGIT_BOUND])  # π₀ = 1 − 1e−17


@given(z=logit_vectors())
@example(z=V2)
@example(z=UNIFORM)
@example(z=ONE_HOT)
def test_a_annihilates_the_all_ones_vector(z):
    """C2: "A·1 = 0": a uniform shift of the logits leaves log π unchanged."""
    pi = softmax(z)
    ones = np.ones_like(z)
    # Entries are 1 − Σπ_j, with Σπ_j rounded at ~V·eps ≤ 64·2.2e−16 ≈ 1.4e−14.
    np.testing.assert_allclose(a_matrix(pi) @ ones, 0.0, atol=1e-13)
    np.testing.assert_allclose(apply_a(pi, ones), 0.0, atol=1e-13)


@given(zv=logits_and_directions)
@example(zv=(V2, np.array([1.0, -1.0])))
@example(zv=(UNIFORM, np.arange(7.0)))
@example(zv=(ONE_HOT, np.array([0.0, 50.0, -50.0, 7.0])))
def test_pi_is_a_left_null_vector_so_probability_is_conserved(zv):
    """C2: "πᵀA = 0, so to first order Σ_i π_i Δ log π_i = 0 (probability is conserved)".

    Σ_i π_i Δ log π_i = Σ_i Δπ_i at first order; with Δ log π = A Δz it is πᵀ A Δz = 0 for every
    direction Δz.
    """
    z, v = zv
    pi = softmax(z)
    # πᵀA has entries π_j(1 − Σπ_i): rounding ≈ V·eps ≈ 1.4e−14.
    np.testing.assert_allclose(pi @ a_matrix(pi), 0.0, atol=1e-13)
    # Σ_i π_i (v_i − πᵀv): a cancellation between terms of size ≤ 50, so ≈ 50·V·eps ≈ 7e−13.
    assert abs(pi @ apply_a(pi, v)) <= 1e-11


@given(z=logit_vectors(), dz=st.floats(-1.0, 1.0, **FINITE), seed=st.integers(0, 2**32 - 1))
@example(z=ONE_HOT, dz=1.0, seed=0)
@example(z=V2, dz=-1.0, seed=1)
def test_exact_step_loses_probability_only_at_second_order(z, dz, seed):
    """C2, exact version: Σ_i π_i Δ log π_i = −KL(π ‖ π′) ≤ 0 and = O(‖Δz‖²), never first order.

    For logits moved by Δz = dz·u with u of unit range, KL(π‖π′) ≤ range(Δz)²/8 (the curvature of
    logsumexp is a variance, at most range²/4).
    """
    u = np.random.default_rng(seed).uniform(0.0, 1.0, z.size)
    u[0], u[-1] = 0.0, 1.0  # range(u) = 1 exactly
    pi = softmax(z)
    dlogp = np.log(softmax(z + dz * u)) - np.log(pi)
    drift = float(pi @ dlogp)
    # Each log π′ − log π has rounding ≈ eps·(|z| + 1 + log V) ≈ 1e−14; π-averaged the same.
    floor = 1e-13
    assert drift <= floor
    assert -drift <= dz**2 / 8.0 + floor


@given(z=logit_vectors())
@example(z=V2)
@example(z=UNIFORM)
@example(z=ONE_HOT)
def test_a_frobenius_norm_is_v_times_pi_norm_plus_v_minus_2(z):
    """C2: ‖A‖_F² = V‖π‖² + V − 2, between V − 1 (uniform π) and 2V − 2 (one-hot π)."""
    pi = softmax(z)
    v = z.size
    expected = v * np.sum(pi**2) + v - 2
    # A sum of V² squares of entries in [−1, 1]: rounding ≈ V²·eps ≈ 1e−12 relative.
    np.testing.assert_allclose(np.sum(a_matrix(pi) ** 2), expected, rtol=1e-11)
    np.testing.assert_allclose(a_frobenius_sq(pi), expected, rtol=1e-11)
    assert v - 1 - 1e-9 <= expected <= 2 * v - 2 + 1e-9  # ‖π‖² ∈ [1/V, 1]


@given(zv=logits_and_directions)
@example(zv=(V2, np.array([1.0, -1.0])))
@example(zv=(ONE_HOT, np.array([0.0, 50.0, -50.0, 7.0])))
def test_apply_a_is_the_jacobian_i_minus_one_pi_transpose(zv):
    """Eq. (3): A = ∇_z log π = I − 1πᵀ, i.e. [A]_ij = δ_ij − π_j, against the explicit matrix."""
    z, v = zv
    pi = softmax(z)
    explicit = np.eye(z.size) - np.outer(np.ones(z.size), pi)
    np.testing.assert_array_equal(a_matrix(pi), explicit)
    # Matrix–vector product vs v − (πᵀv)1: same sums, rounding ≈ V·eps·50 ≈ 7e−13.
    np.testing.assert_allclose(apply_a(pi, v), explicit @ v, atol=1e-11)
