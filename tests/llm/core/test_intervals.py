"""Intervals over probe prompts (`core.intervals`): exact small cases, verdict boundaries, and
coverage on simulated data with a known answer."""

import numpy as np
import pytest

from llm_validation.core.intervals import (
    CONTRADICTED,
    HOLDS,
    INCONCLUSIVE,
    Effect,
    PromptSample,
    combine,
    noise_floor,
    percentile,
    resample_weights,
    simultaneous,
)


def test_resample_weights_count_draws_over_prompts():
    """Each row is a resample of P prompts: non-negative multiples of 1/P that sum to one."""
    w = resample_weights(5, np.random.default_rng(0), n_boot=300)
    assert w.shape == (300, 5)
    assert np.allclose(w.sum(axis=1), 1.0)
    assert np.allclose(w * 5, np.round(w * 5))
    assert np.allclose(w.mean(axis=0), 0.2, atol=0.03)


def test_boot_means_resample_prompts_jointly_across_series():
    """Two series that are the same prompt values give identical resampled means (paired), and
    the resampled mean of a constant is that constant."""
    x = np.arange(12.0).reshape(3, 4)  # 3 steps × 4 prompts
    sample = PromptSample({"a": x, "b": x.copy(), "c": np.full((2, 4), 7.0)})
    boot = sample.boot_means(np.random.default_rng(1), n_boot=50)
    assert boot["a"].shape == (50, 3)
    assert np.array_equal(boot["a"], boot["b"])
    assert np.allclose(boot["c"], 7.0)
    assert np.allclose(sample.means()["a"], [1.5, 5.5, 9.5])


def test_percentile_is_the_central_interval():
    boot = np.arange(1001.0)  # quantiles at 2.5 % and 97.5 % are 25 and 975
    assert percentile(boot) == pytest.approx((25.0, 975.0))
    assert percentile(boot, level=0.5) == pytest.approx((250.0, 750.0))


@pytest.mark.parametrize(
    ("low", "high", "sign", "verdict"),
    [
        (0.1, 2.0, +1, HOLDS),
        (0.0, 2.0, +1, INCONCLUSIVE),  # an interval that touches zero does not exclude it
        (-2.0, -0.1, +1, CONTRADICTED),
        (-2.0, -0.1, -1, HOLDS),
        (-2.0, 0.0, -1, INCONCLUSIVE),
        (0.1, 2.0, -1, CONTRADICTED),
        (-1.0, 1.0, -1, INCONCLUSIVE),
    ],
)
def test_a_verdict_needs_the_interval_to_exclude_zero(low, high, sign, verdict):
    assert Effect("e", (low + high) / 2, low, high, sign).verdict == verdict


def test_without_an_interval_the_point_must_clear_the_noise_floor():
    assert Effect("e", 1.5, None, None, +1, floor=1.5).verdict == INCONCLUSIVE  # equal: not past
    assert Effect("e", 1.51, None, None, +1, floor=1.5).verdict == HOLDS
    assert Effect("e", -1.51, None, None, +1, floor=1.5).verdict == CONTRADICTED
    assert Effect("e", 0.0, None, None, -1, floor=1.0).verdict == INCONCLUSIVE
    assert noise_floor(-338.0) == pytest.approx(3.38)  # 1 % of a −338-nat curve
    assert noise_floor(-50.0, -20.0) == 1.0  # never below one nat


def test_combine_needs_every_part_and_any_contradiction_wins():
    h = Effect("h", 1.0, 0.5, 1.5, +1)
    i = Effect("i", 1.0, -0.5, 1.5, +1)
    c = Effect("c", -1.0, -1.5, -0.5, +1)
    assert combine([h, h]) == HOLDS
    assert combine([h, i]) == INCONCLUSIVE
    assert combine([h, i, c]) == CONTRADICTED
    assert combine([]) == INCONCLUSIVE


def test_percentile_interval_of_a_change_covers_the_truth_about_95_percent():
    """400 simulated runs of 40 prompts whose change is 0.8 + N(0, 3²) per prompt: the interval
    covers 0.8 in 93–97 % of them (binomial sd at 95 % over 400 draws: 1.1 %; the percentile
    bootstrap undercovers by about a point at n = 40)."""
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(400):
        start = rng.normal(-100.0, 10.0, 40)
        end = start + 0.8 + rng.normal(0.0, 3.0, 40)
        sample = PromptSample({"x": np.stack([start, end])})
        boot = sample.boot_means(rng, n_boot=1000)
        low, high = percentile(boot["x"][:, 1] - boot["x"][:, 0])
        covered += low <= 0.8 <= high
    assert 0.93 <= covered / 400 <= 0.97


def test_the_band_keeps_a_flat_curve_from_rising_where_a_pointwise_interval_does_not():
    """A flat population curve, 20 evaluations of 24 prompts with step-to-step noise: reading
    the highest step with a pointwise 95 % interval calls it 'risen' in far more than 5 % of
    runs; the simultaneous band stays near 5 %. (If `simultaneous` were pointwise, the first
    assertion would fail.)"""
    rng = np.random.default_rng(1)
    band, pointwise, trials = 0, 0, 200
    for _ in range(trials):
        x = rng.normal(-100.0, 10.0, 24) + rng.normal(0.0, 2.0, (20, 24))  # (S, P)
        boot = PromptSample({"x": x}).boot_means(rng, n_boot=800)["x"]
        rise, boot_rise = x.mean(1) - x.mean(1)[0], boot - boot[:, :1]
        at = int(rise.argmax())
        band += simultaneous(rise, boot_rise)[0][at] > 0
        pointwise += percentile(boot_rise[:, at])[0] > 0
    assert band / trials <= 0.08
    assert pointwise / trials >= 0.18  # measured: 0.25 pointwise, 0.045 with the band
