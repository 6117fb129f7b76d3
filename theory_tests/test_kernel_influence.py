"""C4 and C5: how one SFT example moves itself and the other inputs (Sec. 3.1–3.2).

C4. For one updating example under a scalar kernel, z′_u = z_u + s(e_y − π_u) with s = η k_uu, so

    log π′(y|x_u) − log π(y|x_u) = −log[π_y + Σ_{j≠y} π_j e^{−s(1 − π_y + π_j)}] > 0

for every s > 0: "small enough η" is not needed. Its first-order term is η k_uu ‖e_y − π‖². For a
general (block, eNTK-shaped) PSD kernel the first-order term η (e_y − π)ᵀ K_uu (e_y − π) is ≥ 0
but a large step can lower log π(y|x_u): there "small enough η" is a real condition. In a batch,
a PSD kernel guarantees only that the summed log-likelihood rises at first order; one example
of the batch can fall.

C5. Under a scalar kernel the step on x_o is −η Σ_u k(x_o, x_u) G(x_u): an input with
k(x_o, x_u) = 0 does not move at all, and the first-order influence is linear in k(x_o, x_u).
"""

from __future__ import annotations

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.special import logsumexp

from simulator import Responses, UpdateBatch, log_softmax, take_step

from .strategies import (
    FINITE,
    LOGP_FLOOR,
    block_psd_kernels,
    logit_vectors,
    scalar_psd_kernels,
    step_sizes,
)


def _sft(rows, labels) -> UpdateBatch:
    return UpdateBatch({"y": Responses.single_labels(rows, labels)})


@st.composite
def sft_problems(draw, kernel="scalar"):
    """N ∈ 1…5 inputs with logits in [−20, 20], V ∈ 2…16, one SFT example (u, y), a PSD kernel."""
    n = draw(st.integers(1, 5))
    v = draw(st.integers(2, 16))
    z = draw(arrays(np.float64, (n, v), elements=st.floats(-20, 20, **FINITE)))
    u, y = draw(st.integers(0, n - 1)), draw(st.integers(0, v - 1))
    if kernel == "scalar":
        k = draw(scalar_psd_kernels(n, min_diag=0.01))  # k(x_u, x_u) ≥ 0.01 > 0
    else:
        k = draw(block_psd_kernels(n, v))
    return z, k, u, y


def _sft_gain_closed_form(logp: np.ndarray, y: int, s: float) -> float:
    """−log[π_y + Σ_{j≠y} π_j e^{−s(1 − π_y + π_j)}] from log π. Shape: logp (V,).

    Near 0 via −log1p(Σ_j π_j expm1(x_j)), which keeps a tiny gain's sign; for larger gains via
    −logsumexp(log π_j + x_j), which keeps its digits when π_y ≈ 0.
    """
    pi = np.exp(logp)
    x = -s * (1.0 - pi[y] + pi)
    x[y] = 0.0
    near_zero = np.sum(pi * np.expm1(x))
    if near_zero > -0.5:
        return float(-np.log1p(near_zero))
    return float(-logsumexp(logp + x))


@given(problem=sft_problems(), lr=step_sizes)
@example(problem=(np.array([[0.0, 0.0]]), np.array([[1.0]]), 0, 0), lr=1.0)  # V = 2, uniform
@example(problem=(np.array([[20.0, -20.0, -20.0]]), np.array([[1.0]]), 0, 0), lr=1.0)  # one-hot
@example(problem=(np.array([[-20.0, 20.0, 0.0]]), np.array([[0.5]]), 0, 0), lr=20.0)  # π(y) ≈ 4e−18
def test_sft_step_raises_its_own_log_likelihood(problem, lr):
    """C4: "An SFT step with a PSD kernel and k(x_u, x_u) > 0 raises log π(y_u | x_u) for small
    enough η." Under a scalar kernel it holds for every η > 0 (closed form above)."""
    z, k, u, y = problem
    step = take_step(z, k, "sft", _sft([u], [y]), lr)
    gain = _sft_gain_closed_form(log_softmax(z[u]), y, lr * k[u, u])
    assert gain >= 0.0
    # The simulator's gain matches the closed form to log-softmax rounding.
    assert abs(step.actual[u, y] - gain) <= LOGP_FLOOR * (1 + lr * k[u, u])
    if gain > LOGP_FLOOR * (1 + lr * k[u, u]):
        assert step.actual[u, y] > 0.0


@given(problem=st.one_of(sft_problems("scalar"), sft_problems("block")), lr=step_sizes)
def test_sft_first_order_gain_is_a_kernel_norm_of_the_residual(problem, lr):
    """C4 at first order: Δ log π(y|x_u) ≈ η (e_y − π)ᵀ K(x_u, x_u) (e_y − π) ≥ 0, which is
    η k_uu ‖e_y − π‖² for a scalar kernel: positive unless π(·|x_u) = e_y."""
    z, k, u, y = problem
    step = take_step(z, k, "sft", _sft([u], [y]), lr)
    r = np.eye(z.shape[1])[y] - step.pi[u]
    expected = lr * r @ step.k_block(u, u) @ r
    # Products of entries ≤ ~4 summed over V² terms: rounding ≈ 1e−13 relative to the scale.
    scale = lr * np.abs(step.k_block(u, u)).max() + 1e-300
    np.testing.assert_allclose(step.predicted[u, y], expected, rtol=1e-9, atol=1e-13 * scale)
    assert expected >= -1e-13 * scale


def test_sft_on_a_block_kernel_needs_a_small_step():
    """C4's "small enough η" is a real condition for a block (eNTK) kernel: a counterexample.

    V = 3, π uniform, y = 0, so r = e_y − π = (2/3, −1/3, −1/3). With w = (1, 1.5, −10) and the
    rank-one PSD block K_uu = wwᵀ/(wᵀr), K_uu r = w: the first-order gain η rᵀw = 3.5η > 0, but
    the logit of label 1 grows faster than label 0's, so for large η log π(0) falls (→ −η/2).
    """
    w = np.array([1.0, 1.5, -10.0])
    r = np.array([2.0, -1.0, -1.0]) / 3.0
    k = np.outer(w, w) / (w @ r)
    assert np.all(np.linalg.eigvalsh(k) >= -1e-12)  # PSD
    small = take_step(np.zeros((1, 3)), k, "sft", _sft([0], [0]), 1e-3)
    large = take_step(np.zeros((1, 3)), k, "sft", _sft([0], [0]), 10.0)
    assert small.predicted[0, 0] > 0 and small.actual[0, 0] > 0
    assert large.predicted[0, 0] > 0 and large.actual[0, 0] < -1.0


@st.composite
def sft_batches(draw):
    """A batch of 2–5 SFT examples on distinct inputs of N ≤ 6, a scalar PSD kernel."""
    n = draw(st.integers(2, 6))
    v = draw(st.integers(2, 12))
    z = draw(arrays(np.float64, (n, v), elements=st.floats(-20, 20, **FINITE)))
    size = draw(st.integers(2, n))
    rows = draw(st.permutations(range(n)))[:size]
    labels = draw(st.lists(st.integers(0, v - 1), min_size=size, max_size=size))
    return z, draw(scalar_psd_kernels(n)), np.array(rows), np.array(labels)


@given(batch=sft_batches(), lr=step_sizes)
def test_sft_batch_raises_the_summed_log_likelihood_at_first_order(batch, lr):
    """C4 for a batch (condition stated): with PSD K the first-order change of Σ_u log π(y_u|x_u)
    is η Σ_{u,u'} k_uu' ⟨e_{y_u} − π_u, e_{y_u'} − π_u'⟩ ≥ 0, a PSD quadratic form."""
    z, k, rows, labels = batch
    step = take_step(z, k, "sft", _sft(rows, labels), lr)
    total = float(np.sum(step.predicted[rows, labels]))
    r = np.eye(z.shape[1])[labels] - step.pi[rows]  # (B, V)
    quad = lr * float(np.sum(k[np.ix_(rows, rows)] * (r @ r.T)))
    scale = lr * np.abs(k).max() * rows.size**2 + 1e-300
    np.testing.assert_allclose(total, quad, rtol=1e-9, atol=1e-12 * scale)
    assert total >= -1e-12 * scale  # PSD: rounding only


def test_one_example_of_an_sft_batch_can_fall():
    """C4 is per-example only for a single update: three copies of one input (k ≡ 1), labels
    (0, 1, 1) on a uniform V = 2 distribution: label 0's log-likelihood falls at first order and
    exactly, because the two examples with label 1 outvote it."""
    z = np.zeros((3, 2))
    k = np.ones((3, 3))
    step = take_step(z, k, "sft", _sft([0, 1, 2], [0, 1, 1]), 0.1)
    assert step.predicted[0, 0] < 0 and step.actual[0, 0] < 0
    assert np.sum(step.predicted[[0, 1, 2], [0, 1, 1]]) >= 0  # the batch total still rises


@st.composite
def influence_problems(draw):
    """N ∈ 2…5 inputs, V ∈ 2…16, one SFT example on u, an observed o ≠ u, a symmetric kernel."""
    n = draw(st.integers(2, 5))
    v = draw(st.integers(2, 16))
    z = draw(arrays(np.float64, (n, v), elements=st.floats(-20, 20, **FINITE)))
    u, y = draw(st.integers(0, n - 1)), draw(st.integers(0, v - 1))
    o = draw(st.integers(0, n - 1).filter(lambda i: i != u))
    k = draw(arrays(np.float64, (n, n), elements=st.floats(-3, 3, **FINITE)))
    return z, (k + k.T) / 2, u, y, o


@given(problem=influence_problems(), lr=step_sizes)
def test_input_with_zero_kernel_entry_does_not_move(problem, lr):
    """C5: "An observed input with k(x_o, x_u) = 0 does not move at first order." Under a fixed
    scalar kernel it does not move at all: z_o is untouched, so Δ log π(x_o) = 0 exactly."""
    z, k, u, y, o = problem
    k[o, u] = k[u, o] = 0.0
    step = take_step(z, k, "sft", _sft([u], [y]), lr)
    assert np.all(step.predicted[o] == 0.0)
    assert np.all(step.actual[o] == 0.0)


@given(problem=influence_problems(), lr=step_sizes, c=st.floats(-5.0, 5.0, **FINITE))
def test_influence_is_linear_in_the_kernel_entry(problem, lr, c):
    """C5: "Influence is linear in k(x_o, x_u), and a negative kernel entry flips its sign":
    the first-order Δ log π(x_o) with k(x_o, x_u) = c is c times the one with k(x_o, x_u) = 1."""
    z, k, u, y, o = problem

    def influence(k_ou):
        kk = k.copy()
        kk[o, u] = kk[u, o] = k_ou
        return take_step(z, kk, "sft", _sft([u], [y]), lr).predicted[o]

    unit = influence(1.0)
    # One product per entry (η·k·(AG)): rounding ≈ eps relative, plus |unit| ≤ 2η.
    np.testing.assert_allclose(influence(c), c * unit, rtol=1e-12, atol=1e-14 * lr)
    np.testing.assert_allclose(influence(-c), -influence(c), rtol=1e-12, atol=1e-14 * lr)


@given(zy=logit_vectors().flatmap(lambda z: st.tuples(st.just(z), st.integers(0, z.size - 1))))
@example(zy=(np.zeros(2), 0))
def test_influence_on_a_similar_input_pulls_the_same_label_up(zy):
    """C5's sign, for the observed input's own copy of y: with k(x_o, x_u) > 0 and π(x_o) = π(x_u),
    label y rises at first order on x_o too (by k_ou ‖e_y − π‖²), and falls when k(x_o, x_u) < 0."""
    z, y = zy
    zz = np.stack([z, z])
    for k_ou, sign in ((0.5, 1.0), (-0.5, -1.0)):
        k = np.array([[1.0, k_ou], [k_ou, 1.0]])
        step = take_step(zz, k, "sft", _sft([0], [y]), 0.1)
        r = np.eye(z.size)[y] - step.pi[1]
        expected = 0.1 * k_ou * (r @ r)
        np.testing.assert_allclose(step.predicted[1, y], expected, rtol=1e-9, atol=1e-16)
        assert np.sign(step.predicted[1, y]) in (sign, 0.0)
