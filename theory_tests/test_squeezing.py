"""C6–C11: the squeezing effect of a negative gradient (Sec. 3.3, Appendix on squeezing).

One negative-gradient step on ȳ under K = c·I, with s = ηc, gives z′ = z + s(π − e_ȳ) and

    log π′_i − log π_i = s π_i − s δ_iȳ − log Z,   Z = Σ_j π_j e^{s π_j − s δ_jȳ}.

So a label i ≠ ȳ rises iff π_i > T(s) = log Z / s (`rise_threshold`). T(s) is the normalised
cumulant generating function of w = π − e_ȳ under π, so it increases with s, from
T(0+) = ‖π‖² − π(ȳ) to T(∞) = max_{i≠ȳ} π_i. Everything below follows from these two facts:

- C6  π(ȳ) falls for every s > 0 (by at least s‖e_ȳ − π‖², Jensen).
- C7  every maximiser of π over i ≠ ȳ rises for every s > 0, uniform rest or not.
- C8  log π′_i/π_i − log π′_j/π_j = s(π_i − π_j) for i, j ≠ ȳ: rich get richer.
- C9  exactly the labels with π_i > T(s) rise; "every label but the argmax falls" holds for every
      s > 0 iff the runner-up satisfies π_(2) ≤ ‖π‖² − π(ȳ): the exact form of the paper's
      condition that the mass concentrates on few labels.
- C10 a smaller π(ȳ) (other ratios fixed) makes more labels fall, and, while ȳ is not the peak,
      shrinks the mass outside {argmax, ȳ} by a larger factor; but the argmax gains *less*:
      at first order Δ log π(a) = s(π_a − ‖π‖² + π(ȳ)), increasing in π(ȳ) up to p* > 0.
- C11 on the peak, T(0+) ≤ 0, so for small s all V − 1 other labels rise; "at least V − 2 rise"
      holds iff the second-smallest other probability exceeds T(s), and fails for large s.

Signs are compared against an expm1/log1p oracle (`squeeze_log_change`) only where the exact
change is further than LOGP_FLOOR from 0; closer than that float64 cannot resolve it.
"""

from __future__ import annotations

import numpy as np
from hypothesis import assume, event, example, given
from hypothesis import strategies as st

from simulator import (
    negative_step,
    rise_threshold,
    softmax,
    squeeze_closed_form,
    target_label,
    with_probability,
    zipf_logits,
)

from .strategies import (
    FINITE,
    LOGP_FLOOR,
    SqueezeCase,
    case_with_target_probability,
    second_largest_except,
    squeeze_cases,
    squeeze_log_change,
)

V2 = SqueezeCase(np.array([1.0, -1.0]), 1, 1.0)
UNIFORM = SqueezeCase(np.zeros(10), 3, 1.0)
NEAR_ONE_HOT = SqueezeCase(np.array([20.0, -20.0, -20.0, -20.0, -20.0]), 4, 2.0)
TARGET_1E_12 = case_with_target_probability(16, 15, 1e-12, lr=1.0, peak=1.0)
TARGET_IS_ONE_HOT = SqueezeCase(np.array([-20.0, 20.0, -20.0]), 1, 1.0)
TIED_TOP = SqueezeCase(np.array([2.0, 2.0, 0.0, -1.0]), 3, 0.5)


def _changes(case: SqueezeCase):
    """The simulator's step, its log π′ − log π and the exact oracle's. Shapes: (V,)."""
    report = negative_step(case.z, case.ybar, case.lr, case.c)
    simulated = np.log(report.pi_after) - np.log(report.pi_before)
    return report, simulated, squeeze_log_change(report.pi_before, case.ybar, case.s)


def _others(case: SqueezeCase) -> np.ndarray:
    return np.delete(np.arange(case.z.size), case.ybar)


def _floor(case: SqueezeCase) -> float:
    """Rounding of a log-softmax difference grows with the logits' size, |z| + s."""
    return LOGP_FLOOR * (1.0 + case.s)


EDGE_CASES = (V2, UNIFORM, NEAR_ONE_HOT, TARGET_1E_12, TARGET_IS_ONE_HOT, TIED_TOP)


def pinned(test=None, **extra):
    """Pin the edge cases every squeezing claim is checked on (extra: the test's other args)."""

    def decorate(t):
        for case in EDGE_CASES:
            t = example(case=case, **extra)(t)
        return t

    return decorate(test) if test is not None else decorate


@given(case=squeeze_cases())
@pinned
def test_simulated_squeeze_matches_the_closed_form(case):
    """Sec. 3.3's closed form log π′_i − log π_i = sπ_i − sδ_iȳ − log Z, against the simulated
    step and against the simulator's own `squeeze_closed_form`."""
    report, simulated, exact = _changes(case)
    np.testing.assert_allclose(simulated, exact, rtol=1e-9, atol=_floor(case))
    pi = report.pi_before
    closed = squeeze_closed_form(pi.copy(), case.ybar, case.s) - np.log(pi)
    # logsumexp over log π + shift: rounding ≈ 64 eps·(max|log π| + s), as in the lemma below.
    atol = 64 * np.finfo(float).eps * (1 + np.abs(np.log(pi)).max() + case.s)
    np.testing.assert_allclose(closed, exact, rtol=1e-9, atol=atol)


@given(case=squeeze_cases())
@pinned
def test_negative_gradient_lowers_its_target(case):
    """C6: "π(ȳ) falls." For every s > 0, by at least s‖e_ȳ − π‖² in log space (Jensen)."""
    report, simulated, exact = _changes(case)
    pi = report.pi_before
    rest = np.delete(pi, case.ybar)
    bound = -case.s * float(rest.sum() ** 2 + rest @ rest)  # ‖e_ȳ − π‖², without 1 − π(ȳ)
    assert exact[case.ybar] <= bound * (1 - 1e-9)  # the oracle's own rounding: ~1e−15 relative
    assert simulated[case.ybar] <= _floor(case)
    if bound < -_floor(case):
        assert simulated[case.ybar] < 0


@given(case=squeeze_cases())
@pinned
def test_negative_gradient_raises_the_argmax(case):
    """C7: "the argmax over i ≠ ȳ rises whenever the non-ȳ distribution is not uniform."

    Holds more generally: every maximiser a of π over i ≠ ȳ (ties included) rises for every
    s > 0, since Σ_j π_j e^{s(π_j − π_a) − sδ_jȳ} < Σ_j π_j = 1 as soon as π(ȳ) > 0. The
    non-uniformity condition is not needed (see the uniform-rest test below).
    """
    report, simulated, exact = _changes(case)
    pi = report.pi_before
    others = _others(case)
    top = others[pi[others] == pi[others].max()]
    assert np.all(exact[top] > 0)
    assert np.all(simulated[top] >= -_floor(case))
    big = top[exact[top] > _floor(case)]
    assert np.all(simulated[big] > 0)


@given(
    vocab=st.integers(2, 64),
    p=st.floats(1e-12, 1 - 1e-6, **FINITE),
    lr=st.floats(1e-3, 20.0, **FINITE),
)
@example(vocab=2, p=0.5, lr=1.0)
@example(vocab=64, p=1e-12, lr=20.0)
def test_argmax_rises_even_when_the_rest_is_uniform(vocab, p, lr):
    """C7's condition is unnecessary: with a uniform rest, every i ≠ ȳ is an argmax and all of
    them rise by the same amount, −log(1 − p + p e^{−s(1 + (1 − p)/(V − 1) − p)}) > 0."""
    ybar = vocab - 1
    case = SqueezeCase(with_probability(np.zeros(vocab), ybar, p), ybar, lr)
    _, simulated, exact = _changes(case)
    rest = _others(case)
    assert np.all(exact[rest] > 0)
    # Equal by symmetry: the same arithmetic on equal inputs, up to the logits' rounding.
    np.testing.assert_allclose(simulated[rest], simulated[rest][0], atol=_floor(case))
    if exact[rest][0] > _floor(case):
        assert np.all(simulated[rest] > 0)


@given(case=squeeze_cases())
@pinned
def test_squeeze_rich_get_richer(case):
    """C8: "log π′_i/π_i is strictly increasing in π_i for i ≠ ȳ (rich get richer)":
    for i, j ≠ ȳ, log π′_i/π_i − log π′_j/π_j = s(π_i − π_j) exactly."""
    report, simulated, _ = _changes(case)
    pi, others = report.pi_before, _others(case)
    d_change = simulated[others][:, None] - simulated[others][None, :]
    d_pi = case.s * (pi[others][:, None] - pi[others][None, :])
    np.testing.assert_allclose(d_change, d_pi, atol=2 * _floor(case))
    assert np.all(d_change[d_pi > 2 * _floor(case)] > 0)


@given(case=squeeze_cases())
@pinned
def test_label_rises_iff_its_probability_exceeds_the_rise_threshold(case):
    """C9, the exact condition: a label i ≠ ȳ rises iff s π_i > log Z, i.e. π_i > T(s)."""
    report, simulated, exact = _changes(case)
    pi, others = report.pi_before, _others(case)
    threshold = rise_threshold(pi, case.ybar, case.s)
    # T(s) = π_i − (log π′_i − log π_i)/s for any i ≠ ȳ; the oracle's version of it.
    i = others[0]
    np.testing.assert_allclose(threshold, pi[i] - exact[i] / case.s, atol=_floor(case) / case.s)
    clear = np.abs(case.s * (pi[others] - threshold)) > 2 * _floor(case)
    rises = pi[others] > threshold
    np.testing.assert_array_equal(report.increased[others][clear], rises[clear])
    np.testing.assert_array_equal(exact[others][clear] > 0, rises[clear])


@given(case=squeeze_cases(), factor=st.floats(1.0, 100.0, **FINITE))
@pinned(factor=5.0)
def test_rise_threshold_grows_with_the_step_from_pi_norm_minus_target(case, factor):
    """C9's lemma: T(s) = log E_π[e^{s w}]/s, w = π − e_ȳ, is non-decreasing in s, with
    T(0+) = ‖π‖² − π(ȳ) ≤ T(s) ≤ max_{i≠ȳ} π_i.

    Steps reach s·factor = 10⁴, past where a log Z summed without a max-shift overflows (the bug
    pinned by test_rise_threshold_is_finite_for_large_steps).
    """
    pi = case.pi
    t_s = rise_threshold(pi, case.ybar, case.s)
    t_big = rise_threshold(pi, case.ybar, case.s * factor)
    # log Z = logsumexp(log π + s(π − e_ȳ)) rounds at ≈ eps·(max|log π| + s) per term; 64 eps for
    # the sum, then divided by s (≥ 5e−5 here): at most ≈ 1e−8 on T.
    tol = 64 * np.finfo(float).eps * (1 + np.abs(np.log(pi)).max() + case.s) / case.s
    assert t_s <= t_big + tol
    assert float(pi @ pi) - pi[case.ybar] <= t_s + tol
    assert t_big <= np.delete(pi, case.ybar).max() + tol


@given(case=squeeze_cases())
@pinned
def test_only_the_argmax_rises_when_the_runner_up_is_small(case):
    """C9: "on a peaky distribution with ȳ in a valley, every label but the argmax falls", with
    the exact condition for every s > 0: π_(2) ≤ ‖π‖² − π(ȳ), π_(2) the runner-up among i ≠ ȳ.

    (Then π_(2) ≤ T(0+) < T(s), so every non-argmax label falls; the argmax rises by C7.)
    """
    pi = case.pi
    runner_up = second_largest_except(pi, case.ybar)
    assume(runner_up <= float(pi @ pi) - pi[case.ybar])
    report, simulated, exact = _changes(case)
    others = _others(case)
    top = others[np.argmax(pi[others])]
    rest = np.setdiff1d(np.arange(pi.size), [top])
    assert np.all(exact[rest] < 0)
    clear = rest[exact[rest] < -_floor(case)]
    assert np.all(simulated[clear] < 0)
    assert report.n_increased <= 1


def test_valley_squeeze_on_zipf_can_raise_the_runner_up():
    """C9 is false as stated for a mildly peaky distribution: counterexample.

    Zipf(V = 10, peakiness 1), ȳ = the valley (π = 0.034), s = 1: π_(2) = 0.171 > T(1) ≈ 0.149, so
    the top two labels rise. The condition π_(2) ≤ ‖π‖² − π(ȳ) = 0.146 fails; with a larger
    step (s = 20) or a peakier start (peakiness 2) only the argmax rises again.
    """
    ybar = target_label(10, "valley")
    mild = negative_step(zipf_logits(10, 1.0), ybar, 1.0)
    assert mild.n_increased == 2 and list(np.flatnonzero(mild.increased)) == [0, 1]
    assert negative_step(zipf_logits(10, 1.0), ybar, 20.0).n_increased == 1
    for lr in (0.1, 1.0, 5.0, 100.0):
        assert negative_step(zipf_logits(10, 2.0), ybar, lr).n_increased == 1


def _rest_mass_ratio(report) -> float:
    """Mass outside {argmax, ȳ} after / before: below 1 means it was squeezed out."""
    keep = np.ones(report.pi_before.size, bool)
    keep[[report.argmax, report.ybar]] = False
    return float(report.pi_after[keep].sum() / report.pi_before[keep].sum())


target_probabilities = st.floats(1e-12, 0.999, **FINITE)


@given(case=squeeze_cases(), p1=target_probabilities, p2=target_probabilities)
@example(case=case_with_target_probability(10, 9, 0.5, peak=1.0), p1=1e-12, p2=0.034)
@example(case=V2, p1=1e-12, p2=0.5)
def test_smaller_target_probability_squeezes_harder(case, p1, p2):
    """C10: "the smaller π(ȳ), the stronger the squeeze, other things fixed" (π(ȳ) set by
    `with_probability`, the other labels' ratios kept).

    Strength (1): the set of falling labels only grows as π(ȳ) shrinks (so does its size).
    Strength (2), with the condition that ȳ is not above the argmax: the mass outside
    {argmax, ȳ} is multiplied by a smaller factor. (The argmax's absolute gain is not tested.)
    """
    lo, hi = sorted((p1, p2))
    reports, changes = [], []
    for p in (lo, hi):
        c = case._replace(z=with_probability(case.z, case.ybar, p))
        report, _, exact = _changes(c)
        reports.append(report)
        changes.append(exact)
    floor = _floor(case)
    falls_at_hi = changes[1] < -floor
    assert np.all(changes[0][falls_at_hi] < floor)  # every label falling at hi falls at lo
    assert reports[0].n_decreased >= np.sum(falls_at_hi)
    pi_hi = reports[1].pi_before
    if pi_hi.size > 2 and pi_hi[case.ybar] <= pi_hi[reports[1].argmax]:
        # Ratios of sums of ≤ 64 probabilities, each with relative rounding ~eps·(1 + s).
        assert _rest_mass_ratio(reports[0]) <= _rest_mass_ratio(reports[1]) * (1 + 1e-10)


def test_squeeze_strength_needs_the_target_below_the_peak():
    """C10's measures, counterexamples:

    - The mass outside {argmax, ȳ}: π = (0.5, 0.3, 0.2)·, ȳ = 0, s = ½: at π(ȳ) = 0.5 (ȳ is the
      peak) label 2 grows by ×1.152, at π(ȳ) = 0.9 only by ×1.064, so there the larger π(ȳ)
      squeezes harder: the claim needs ȳ below the argmax.
    - The mass outside the argmax *including* ȳ is the wrong measure: at s = 1, π(ȳ) = 0.2 and
      0.3 (ȳ below the peak) shrink it by ×0.781 and ×0.773, because ȳ's own loss grows with
      π(ȳ).
    """
    z = np.log(np.array([0.5, 0.3, 0.2]))

    def report(p, lr):
        return negative_step(with_probability(z, 0, p), 0, lr)

    assert _rest_mass_ratio(report(0.5, 0.5)) > _rest_mass_ratio(report(0.9, 0.5))

    def outside_argmax_ratio(r):
        before, after = r.mass_outside_argmax()
        return after / before

    assert outside_argmax_ratio(report(0.2, 1.0)) > outside_argmax_ratio(report(0.3, 1.0))


def _argmax_log_gain(z: np.ndarray, ybar: int, p: float, s: float) -> float:
    """Exact Δ log π(a) of the argmax a ≠ ȳ after one step of size s, with π(ȳ) set to p."""
    pi = softmax(with_probability(z, ybar, p))
    others = _others(SqueezeCase(z, ybar, s))
    return float(squeeze_log_change(pi, ybar, s)[others[np.argmax(pi[others])]])


def _first_order_argmax_gain(q: np.ndarray, p: float) -> float:
    """g(p) = π_a − ‖π‖² + π(ȳ) with π = ((1 − p) q, p): Δ log π(a) = s·g(p) + O(s²).

    q: the ratios of the labels other than ȳ (sums to 1)."""
    return (1 - p) * q.max() - (1 - p) ** 2 * float(q @ q) - p**2 + p


def _turning_point(q: np.ndarray) -> float:
    """p* = (1 − q_a + 2‖q‖²) / (2 + 2‖q‖²) > 0, where g′(p*) = 0: g rises on [0, p*]."""
    return (1 - q.max() + 2 * float(q @ q)) / (2 + 2 * float(q @ q))


ZIPF_1000_TAIL = SqueezeCase(zipf_logits(1000, 1.0), 999, 1.0)


@given(
    case=squeeze_cases(),
    s=st.floats(1e-4, 0.2, **FINITE),
    u1=st.floats(0.0, 1.0, **FINITE),
    u2=st.floats(0.0, 1.0, **FINITE),
)
@example(case=ZIPF_1000_TAIL, s=0.01, u1=0.0, u2=0.2)
@example(case=V2, s=0.1, u1=0.0, u2=1.0)
@example(case=UNIFORM, s=0.1, u1=0.1, u2=0.9)
def test_argmax_gains_more_when_the_target_is_likelier(case, s, u1, u2):
    """C10, second half: "if ȳ is unlikely, π(y*) increases more" — false under K = c·I.

    With the other labels' ratios q fixed, Δ log π(a) = s·g(π(ȳ)) + r, g(p) = π_a − ‖π‖² + p
    (first order), and g rises on [0, p*], p* = (1 − q_a + 2‖q‖²)/(2 + 2‖q‖²) > 0. So for every π
    and a small enough step, a *likelier* ȳ (up to p*) gives the argmax the larger gain. The
    remainder r is the same for every label and lies in [−s² range(π − e_ȳ)²/8, 0] (C1), so the
    exact comparison is asserted wherever s·(g(p₂) − g(p₁)) exceeds s²·2²/8 (range ≤ 2).
    """
    q = softmax(np.delete(case.z, case.ybar))
    top = _turning_point(q)
    p1, p2 = sorted((1e-12 + u1 * (top - 1e-12), 1e-12 + u2 * (top - 1e-12)))
    first_order = s * (_first_order_argmax_gain(q, p2) - _first_order_argmax_gain(q, p1))
    assert first_order >= -1e-15  # g rises on [0, p*]
    assume(first_order > s**2 / 2)
    assert _argmax_log_gain(case.z, case.ybar, p2, s) > _argmax_log_gain(case.z, case.ybar, p1, s)


def test_argmax_gain_grows_with_the_target_probability_counterexample():
    """C10's "π(y*) increases more if ȳ is unlikely", counterexample at a full step (s = 1).

    V = 1000, π Zipf(1), ȳ the tail label, the other labels' ratios fixed: Δ log π(y*) =
    0.1032, 0.1086, 0.1298, 0.1553 at π(ȳ) = 1e−6, 0.01, 0.05, 0.1 — a likelier ȳ gives the
    argmax a larger gain (p* ≈ 0.45 for these ratios).
    """
    z, ybar = ZIPF_1000_TAIL.z, ZIPF_1000_TAIL.ybar
    gains = [_argmax_log_gain(z, ybar, p, 1.0) for p in (1e-6, 0.01, 0.05, 0.1)]
    np.testing.assert_allclose(gains, [0.1032, 0.1086, 0.1298, 0.1553], atol=5e-5)  # 4 digits
    assert np.all(np.diff(gains) > 0)
    assert 0.44 < _turning_point(softmax(np.delete(z, ybar))) < 0.46


peak_cases = squeeze_cases(vocab=st.integers(3, 64)).map(
    lambda c: c._replace(ybar=int(np.argmax(c.z)))
)


@given(case=peak_cases)
@example(case=SqueezeCase(np.log(np.array([0.4, 0.3, 0.2, 0.1])), 0, 0.5))
@example(case=SqueezeCase(zipf_logits(10, 1.0), 0, 1.0))
@example(case=SqueezeCase(np.zeros(5), 0, 1.0))
def test_negative_gradient_on_the_peak_spreads_mass(case):
    """C11: "A negative gradient on the peak spreads mass: at least V − 2 labels rise."

    With the exact condition: at least V − 2 rise iff the second-smallest π_i (i ≠ ȳ) exceeds
    T(s); all V − 1 others rise iff the smallest does. Since T(0+) = ‖π‖² − π(ȳ) ≤ 0 when ȳ is the
    argmax, this holds for all small enough s, and fails for large s (counterexample below).
    """
    report, _, exact = _changes(case)
    pi, others = report.pi_before, _others(case)
    threshold = rise_threshold(pi, case.ybar, case.s)
    ascending = np.sort(pi[others])
    assert float(pi @ pi) - pi[case.ybar] <= 1e-15  # T(0+) ≤ 0 on the peak
    floor = _floor(case)
    margin = case.s * (ascending[1] - threshold)
    need = pi.size - 2
    clear = np.abs(exact[others]) > floor  # labels whose direction float64 resolves
    if margin > 2 * floor:
        event("T(s) below the second-smallest: at least V − 2 rise")
        assert np.sum(exact[others] > 0) >= need
        assert np.sum(report.increased[others] | ~clear) >= need
    elif margin < -2 * floor:
        event("T(s) above the second-smallest: fewer than V − 2 rise")
        assert np.sum(exact[others] > 0) < need
        assert np.sum(report.increased[others] & clear) < need


def test_negative_gradient_on_the_peak_concentrates_for_large_steps():
    """C11 is false as stated for large steps: counterexample.

    π = (0.4, 0.3, 0.2, 0.1), ȳ = 0 (the peak), V − 2 = 2. At s = ½ all three others rise; at
    s = 5 only two; at s = 10, T(s) ≈ 0.205 > 0.2, so only the runner-up rises: the step then
    squeezes mass onto the second-largest label instead of spreading it.
    """
    z = np.log(np.array([0.4, 0.3, 0.2, 0.1]))
    assert negative_step(z, 0, 0.5).n_increased == 3
    assert negative_step(z, 0, 5.0).n_increased == 2
    large = negative_step(z, 0, 10.0)
    assert large.n_increased == 1 and large.increased[1]
    assert rise_threshold(softmax(z), 0, 10.0) > 0.2


def test_rise_threshold_is_finite_for_large_steps():
    """Regression pin for a simulator bug found by the C9 lemma test (log Z summed without a
    max-shift overflowed once s·max π > ~709; now a logsumexp): at π = softmax(1, 0),
    ȳ = 1, s = 980, T(s) must lie in [‖π‖² − π(ȳ), max_{i≠ȳ} π_i] = [0.33, 0.73] and the closed
    form must be finite (the simulated step itself, through log_softmax, is fine)."""
    z = np.array([1.0, 0.0])
    pi = softmax(z)
    with np.errstate(over="ignore"):
        threshold = rise_threshold(pi, 1, 980.0)
        closed = squeeze_closed_form(pi.copy(), 1, 980.0)
    assert 0.33 <= threshold <= 0.74
    assert np.all(np.isfinite(closed))


@given(case=squeeze_cases())
@pinned
@example(case=SqueezeCase(np.array([0.0, 1e-9]), 0, 1.0))  # V = 2, almost uniform
def test_on_policy_negative_squeezes_less_in_expectation_than_a_valley_one(case):
    """C18 for one step under K = c·I: "on-policy negatives (sampled from π) squeeze less than
    off-policy valley negatives, in expectation". With a* = argmax π and the valley
    ȳ_v = argmin π (π not uniform, else there is no valley):

        E_{ȳ∼π}[Δπ(a*)] ≤ Δπ(a*) at ȳ = ȳ_v.

    (Among ȳ ≠ a* the valley gives a* the *smallest* gain; the expectation is lower because an
    on-policy draw hits a* itself with probability π(a*), and then a* loses mass.)
    """
    pi = case.pi
    assume(np.ptp(pi) > 0)
    top, valley = int(np.argmax(pi)), int(np.argmin(pi))
    gain = np.array(
        [
            (lambda r: r.pi_after[top] - r.pi_before[top])(
                negative_step(case.z, ybar, case.lr, case.c)
            )
            for ybar in range(pi.size)
        ]
    )
    # Probabilities ≤ 1 with rounding ≈ eps·(1 + s) each; the expectation adds V of them.
    assert pi @ gain <= gain[valley] + 1e-14 * pi.size * (1 + case.s)
