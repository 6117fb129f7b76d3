"""C3 and C12: each loss's residual G = ∂L/∂z, and the SFT / negative-gradient asymmetry.

C3 checks every registered loss's analytic G against central finite differences of the loss
value, on random teacher-forced batches (responses of 1–3 tokens over shared contexts), so the
chain rule through log π(y|x) = Σ_l log π(y_l|χ_l) is covered too.

C12 (Sec. 3.3): with G = π − e_y for SFT and G = e_ȳ − π for a negative gradient,

    1 − π(y) ≤ ‖π − e_y‖ ≤ √2 (1 − π(y)),

so SFT's residual vanishes as π(y) → 1 (it saturates) while a negative gradient on a label with
small π(ȳ) keeps a residual of norm ≥ 1 − π(ȳ) ≈ 1.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from simulator import (
    LOSSES,
    Responses,
    UpdateBatch,
    log_softmax,
    loss_and_residual,
    sequence_logp,
    softmax,
)

from .strategies import LOGIT_BOUND, case_with_target_probability, logit_vectors, loss_problems

ALL_LOSSES = sorted(LOSSES)
FD_STEP = 1e-6
KINK_MARGIN = 1e-3  # a finite step of 1e−6 moves a 3-token log-prob by < 1e−5 ≪ 1e−3


def _loss_value(problem, z):
    value, _ = loss_and_residual(problem.loss, z, problem.batch, problem.ref_z)
    return value.loss


def _away_from_kinks(problem) -> bool:
    """True when no hinge (slic) or clip edge (pg) lies within a finite step: G is unique there."""
    logp, ref = log_softmax(problem.z), log_softmax(problem.ref_z)
    groups = problem.batch.groups
    if problem.loss == "slic":
        delta = LOSSES["slic"].defaults["delta"]
        hinge = (
            delta - sequence_logp(logp, groups["chosen"]) + sequence_logp(logp, groups["rejected"])
        )
        return bool(np.all(np.abs(hinge) > KINK_MARGIN))
    if problem.loss == "pg":
        eps = LOSSES["pg"].defaults["clip_eps"]
        log_rho = sequence_logp(logp, groups["y"]) - sequence_logp(ref, groups["y"])
        edges = np.log([1 - eps, 1 + eps])
        return bool(np.all(np.abs(log_rho[:, None] - edges[None, :]) > KINK_MARGIN))
    return True


@pytest.mark.parametrize("loss", ALL_LOSSES)
@given(data=st.data())
def test_residual_equals_finite_difference_gradient_of_the_loss(loss, data):
    """C3: "each loss's analytic G equals the finite-difference gradient of that loss with
    respect to the logits (float64)", G = ∂L/∂z (Sec. 3, Eq. 5 and Table of losses)."""
    problem = data.draw(loss_problems(loss, max_inputs=3, max_vocab=8))
    assume(_away_from_kinks(problem))
    value, g = loss_and_residual(problem.loss, problem.z, problem.batch, problem.ref_z)
    fd = np.zeros_like(problem.z)
    for idx in np.ndindex(*problem.z.shape):
        e = np.zeros_like(problem.z)
        e[idx] = FD_STEP
        fd[idx] = (_loss_value(problem, problem.z + e) - _loss_value(problem, problem.z - e)) / (
            2 * FD_STEP
        )
    # Central differences: truncation h²|L'''|/6 ≈ 1e−12, rounding eps·|terms of L|/h ≈
    # 2.2e−10·scale, where the loss sums terms as large as its sequence log-probs (≤ ~150 here);
    # 1e−7·scale is a ≥ 100× margin on the rounding.
    logp = log_softmax(problem.z)
    scale = (
        1.0
        + abs(value.loss)
        + sum(np.abs(sequence_logp(logp, y)).sum() for y in problem.batch.groups.values())
    )
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-7 * scale)


def _single_label_residual(loss: str, z: np.ndarray, label: int) -> np.ndarray:
    batch = UpdateBatch({"y": Responses.single_labels([0], [label])})
    _, g = loss_and_residual(loss, z[None, :], batch)
    return g[0]


def _mass_elsewhere(pi: np.ndarray, label: int) -> float:
    """1 − π(label), summed from the other labels so it stays accurate when π(label) ≈ 1."""
    return float(np.sum(np.delete(pi, label)))


labelled_logits = logit_vectors().flatmap(
    lambda z: st.tuples(st.just(z), st.integers(0, z.size - 1))
)
NEAR_ONE_HOT = case_with_target_probability(8, 0, 1 - 1e-12)  # π(y) = 1 − 1e−12
UNLIKELY = case_with_target_probability(8, 7, 1e-12, peak=1.0)  # π(ȳ) = 1e−12
EXTREME = np.array([LOGIT_BOUND, -LOGIT_BOUND])  # V = 2, π(y) = 1 − 4e−18


@given(zy=labelled_logits)
@example(zy=(NEAR_ONE_HOT.z, 0))
@example(zy=(EXTREME, 0))
@example(zy=(np.zeros(2), 0))
def test_sft_residual_vanishes_as_the_target_saturates(zy):
    """C12: "‖π − e_y‖ → 0 as π(y) → 1 (SFT saturates)": 1 − π(y) ≤ ‖G_sft‖ ≤ √2 (1 − π(y))."""
    z, y = zy
    pi = softmax(z)
    g = _single_label_residual("sft", z, y)
    gap = _mass_elsewhere(pi, y)
    # G's entries are π_j (exact to eps relative) and π_y − 1 (absolute rounding ≤ eps).
    np.testing.assert_allclose(g, pi - np.eye(z.size)[y], rtol=1e-12, atol=2e-16)
    norm = np.linalg.norm(g)
    assert gap * (1 - 1e-9) - 2e-16 <= norm <= np.sqrt(2) * gap * (1 + 1e-9) + 2e-16


@given(zy=labelled_logits)
@example(zy=(UNLIKELY.z, 7))
@example(zy=(EXTREME, 1))
@example(zy=(np.zeros(2), 1))
def test_negative_residual_on_an_unlikely_label_does_not_vanish(zy):
    """C12: "‖e_ȳ − π‖ ≥ 1 − π(ȳ)": a negative gradient on an unlikely label stays ≈ 1 in norm."""
    z, ybar = zy
    pi = softmax(z)
    g = _single_label_residual("negative", z, ybar)
    np.testing.assert_allclose(g, np.eye(z.size)[ybar] - pi, rtol=1e-12, atol=2e-16)
    # The bound is exact; 1e−9 relative covers rounding of the norm of ≤ 64 entries.
    assert np.linalg.norm(g) >= _mass_elsewhere(pi, ybar) * (1 - 1e-9)
