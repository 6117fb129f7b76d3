"""C13 and C14: the residuals of DPO, IPO and SLiC (Sec. 3.3 and Appendix on other losses).

DPO (Eq. 7): G⁺ = β(1 − a)(π − e_{y⁺}), G⁻ = β(1 − a)(e_{y⁻} − π), a = σ(βh), h the log-ratio
margin; i.e. G_dpo = β(1 − a) · (G_sft(y⁺) + G_negative(y⁻)). The expected coefficient is computed
here from scratch (no call to the simulator's `dpo_coefficient`).
"""

from __future__ import annotations

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from simulator import (
    LOSSES,
    Responses,
    SequenceScores,
    UpdateBatch,
    dpo_coefficient,
    log_softmax,
    loss_and_residual,
    sequence_logp,
    take_step,
)

from .strategies import FINITE, loss_problems

betas = st.floats(0.01, 5.0, **FINITE)
margins = st.floats(-300.0, 300.0, **FINITE)  # |h| up to the span of 3-token log-ratios
DEFAULT_BETA = LOSSES["dpo"].defaults["beta"]


def _one_minus_sigmoid(x):
    """1 − σ(x) = 1 − 1/(1 + e^{−x}) = 1/(1 + e^{x}), evaluated without overflow or cancellation."""
    return np.exp(-np.logaddexp(0.0, x))


def _group_residual(loss: str, z, y: Responses, ref_z=None):
    _, g = loss_and_residual(loss, z, UpdateBatch({"y": y}), ref_z)
    return g


@given(data=st.data(), beta=betas, first_step=st.booleans())
def test_dpo_residual_is_one_minus_a_times_sft_plus_negative(data, beta, first_step):
    """C13: "DPO: G± = ±β(1 − a)·g(y±)": G_dpo = β(1 − σ(βh)) (G_sft(y⁺) + G_negative(y⁻)).

    On one preference pair of teacher-forced responses (1–3 tokens each, shared contexts). With
    `first_step`, π_ref = π, so h = 0 and a = ½: G_dpo = (β/2)(G_sft + G_negative).
    """
    problem = data.draw(loss_problems("dpo", max_responses=1))
    ref_z = None if first_step else problem.ref_z
    chosen, rejected = problem.batch.groups["chosen"], problem.batch.groups["rejected"]
    _, g = loss_and_residual("dpo", problem.z, problem.batch, ref_z, beta=beta)
    logp = log_softmax(problem.z)
    ref = logp if first_step else log_softmax(problem.ref_z)
    h = (sequence_logp(logp, chosen) - sequence_logp(ref, chosen))[0] - (
        sequence_logp(logp, rejected) - sequence_logp(ref, rejected)
    )[0]
    coef = beta * _one_minus_sigmoid(beta * h)
    if first_step:
        assert h == 0.0 and coef == beta / 2
    expected = coef * (
        _group_residual("sft", problem.z, chosen) + _group_residual("negative", problem.z, rejected)
    )
    # Two evaluations of the same products: rounding ≈ eps relative to β·(entries ≤ 3).
    np.testing.assert_allclose(g, expected, rtol=1e-10, atol=1e-14 * beta)


@given(h=margins, beta=betas)
@example(h=0.0, beta=DEFAULT_BETA)
@example(h=30.0, beta=1.0)
@example(h=-30.0, beta=1.0)
def test_dpo_coefficient_lies_strictly_between_zero_and_beta(h, beta):
    """C13: "the coefficient β(1 − a) lies in (0, β)".

    Exactly true; in float64 it holds strictly while −37 < βh < 709 and saturates to the closed
    interval outside (1 − e^{−37} rounds to 1, e^{−709} underflows), so the strict form is asserted
    where float64 can represent it.
    """
    coef = float(dpo_coefficient(np.array([h]), beta)[0])
    # expit and exp∘logaddexp agree to a few eps; below 1e−300 float64 is subnormal (no rtol).
    np.testing.assert_allclose(coef, beta * _one_minus_sigmoid(beta * h), rtol=1e-12, atol=1e-300)
    assert 0.0 <= coef <= beta
    if -36.0 < beta * h < 700.0:
        assert 0.0 < coef < beta


@given(h1=margins, h2=margins, beta=betas)
@example(h1=-1.0, h2=1.0, beta=DEFAULT_BETA)
def test_dpo_coefficient_falls_as_the_margin_grows(h1, h2, beta):
    """C13: "the coefficient falls as the margin grows" (DPO's push fades once h is large)."""
    lo, hi = sorted((h1, h2))
    c_lo, c_hi = dpo_coefficient(np.array([lo, hi]), beta)
    assert c_hi <= c_lo
    # Strictly, where the two values differ by more than rounding (eps·β relative).
    if beta * (_one_minus_sigmoid(beta * lo) - _one_minus_sigmoid(beta * hi)) > 1e-12 * beta:
        assert c_hi < c_lo


@given(h=st.floats(-50.0, 50.0, **FINITE), beta=betas)
@example(h=1.0 / (2 * DEFAULT_BETA), beta=DEFAULT_BETA)
@example(h=0.0, beta=DEFAULT_BETA)
def test_ipo_coefficient_changes_sign_at_one_over_two_beta(h, beta):
    """C14: "IPO's coefficient changes sign at h = 1/(2β) (self-limiting)".

    c⁺ = ∂L/∂ log π(y⁺) = 2(h − 1/(2β)) = −c⁻: below the target margin IPO pushes y⁺ up and y⁻
    down, above it the push reverses.
    """
    scores = SequenceScores(
        logp={"chosen": np.array([h]), "rejected": np.array([0.0])},
        ref_logp={"chosen": np.array([0.0]), "rejected": np.array([0.0])},
        length={"chosen": np.ones(1), "rejected": np.ones(1)},
    )
    c = LOSSES["ipo"].evaluate(scores, beta=beta).dlogp
    gap = h - 1.0 / (2.0 * beta)
    assert np.sign(c["chosen"][0]) == np.sign(gap)
    assert c["rejected"][0] == -c["chosen"][0]
    np.testing.assert_allclose(c["chosen"][0], 2.0 * gap, rtol=1e-12, atol=1e-12)


@given(
    zs=st.tuples(st.integers(2, 16), st.integers(0, 2**32 - 1)),
    beta=betas,
    s=st.floats(1e-3, 0.49, **FINITE),
)
def test_ipo_step_pulls_the_margin_toward_one_over_two_beta(zs, beta, s):
    """C14, dynamic form: one IPO step under K = c·I moves h exactly to
    1/(2β) + (1 − 4ηc)(h − 1/(2β)), so h approaches 1/(2β) whenever 0 < ηc < 1/2.

    (Both labels share the input; A shifts them equally, so Δh = Δz⁺ − Δz⁻ = −4ηc(h − 1/(2β)).)
    """
    v, seed = zs
    rng = np.random.default_rng(seed)
    z, ref_z = rng.uniform(-5, 5, (1, v)), rng.uniform(-5, 5, (1, v))
    yp, ym = rng.choice(v, 2, replace=False)
    batch = UpdateBatch(
        {
            "chosen": Responses.single_labels([0], [yp]),
            "rejected": Responses.single_labels([0], [ym]),
        }
    )

    def margin(logits):
        lp, lr = log_softmax(logits)[0], log_softmax(ref_z)[0]
        return (lp[yp] - lr[yp]) - (lp[ym] - lr[ym])

    step = take_step(z, np.array([[1.0]]), "ipo", batch, s, ref_z=ref_z, beta=beta)
    target = 1.0 / (2.0 * beta)
    before, after = margin(z) - target, margin(step.z_after) - target
    # Log-prob differences of logits ≤ ~60 in size: rounding ≈ 1e−13.
    np.testing.assert_allclose(after, (1 - 4 * s) * before, rtol=1e-9, atol=1e-11)
    assert abs(after) <= abs(before) + 1e-11


@given(
    lp_chosen=st.floats(-60.0, 0.0, **FINITE),
    lp_rejected=st.floats(-60.0, 0.0, **FINITE),
    delta=st.floats(0.0, 10.0, **FINITE),
    lam=st.floats(0.0, 2.0, **FINITE),
)
@example(lp_chosen=-1.0, lp_rejected=-3.0, delta=1.0, lam=0.1)  # margin 2 > δ: push gone
@example(lp_chosen=-1.0, lp_rejected=-1.5, delta=1.0, lam=0.1)  # margin ½ < δ: push on
def test_slic_push_vanishes_once_the_margin_exceeds_delta(lp_chosen, lp_rejected, delta, lam):
    """C14: "SLiC's [coefficient] vanishes once the margin exceeds δ": with margin
    m = log π(y⁺) − log π(y⁻), c⁻ = 𝟙[m < δ] and c⁺ = −𝟙[m < δ] − λ (the λ·SFT term stays)."""
    margin = lp_chosen - lp_rejected
    scores = SequenceScores(
        logp={"chosen": np.array([lp_chosen]), "rejected": np.array([lp_rejected])},
        ref_logp={"chosen": np.zeros(1), "rejected": np.zeros(1)},
        length={"chosen": np.ones(1), "rejected": np.ones(1)},
    )
    c = LOSSES["slic"].evaluate(scores, delta=delta, lam=lam).dlogp
    active = float(margin < delta)
    # Away from the kink (any subgradient in [0, 1] is valid there), by more than the rounding of
    # δ − log π(y⁺) + log π(y⁻): eps·(δ + |log π|) ≤ 2.2e−16·130 ≈ 3e−14.
    if abs(margin - delta) > 1e-12:
        assert c["rejected"][0] == active
        assert c["chosen"][0] == -active - lam
