"""The K = c·I closed form of a negative-gradient step against the simulated step."""

import numpy as np
import pytest

from simulator import (
    log_softmax,
    negative_step,
    rise_threshold,
    squeeze_closed_form,
    target_label,
    with_probability,
    zipf_logits,
)


@pytest.mark.parametrize("target", ["valley", "peak", "middle"])
@pytest.mark.parametrize("lr, c", [(0.1, 1.0), (1.0, 2.0), (5.0, 0.5)])
def test_closed_form_matches_the_simulated_step(target, lr, c):
    z = zipf_logits(40, 1.5)
    ybar = target_label(40, target)
    report = negative_step(z, ybar, lr, c)
    predicted = squeeze_closed_form(np.exp(log_softmax(z)), ybar, s=lr * c)
    # Both are exact; they differ only by float64 round-off in two log-sum-exps (~1e-15 each).
    np.testing.assert_allclose(np.log(report.pi_after), predicted, atol=1e-12)


def test_exactly_the_labels_above_the_threshold_rise():
    rng = np.random.default_rng(0)
    for _ in range(20):
        z = 3.0 * rng.standard_normal(30)
        ybar, s = int(rng.integers(30)), float(rng.uniform(0.1, 5.0))
        report = negative_step(z, ybar, s)
        others = np.arange(30) != ybar
        above = report.pi_before > rise_threshold(report.pi_before, ybar, s)
        np.testing.assert_array_equal(report.increased[others], above[others])


def test_valley_negative_gradient_raises_only_the_argmax():
    report = negative_step(zipf_logits(50, 2.0), target_label(50, "valley"), lr=1.0)
    assert report.n_increased == 1 and report.increased[0]
    assert report.pi_after[49] < report.pi_before[49]


def test_peak_negative_gradient_spreads_mass():
    report = negative_step(zipf_logits(50, 2.0), target_label(50, "peak"), lr=1.0)
    assert report.n_increased >= 50 - 2


def test_with_probability_sets_the_target_and_keeps_the_other_ratios():
    z = zipf_logits(10, 1.0)
    pi = np.exp(log_softmax(with_probability(z, 9, 1e-6)))
    assert pi[9] == pytest.approx(1e-6, rel=1e-9)
    base = np.exp(log_softmax(z))
    np.testing.assert_allclose(pi[:9] / pi[0], base[:9] / base[0], rtol=1e-12)
