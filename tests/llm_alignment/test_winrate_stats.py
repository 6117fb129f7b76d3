"""Win rate and its interval (llm_validation/core/winrate_stats.py) against hand computation."""

import numpy as np
import pytest

from llm_validation.core.winrate_stats import (
    INVALID,
    TIE,
    A,
    B,
    bootstrap_interval,
    first_position_rate,
    prompt_verdict,
    tally,
    wilson_interval,
)


def test_seven_wins_two_ties_one_loss_is_0_8_with_the_hand_computed_wilson_interval():
    """7 wins, 2 ties, 1 loss over n = 10 prompts: p̂ = (7 + 2/2)/10 = 0.8.

    By hand, z = 1.959964, z² = 3.841459:
      1 + z²/n           = 1.3841459
      p̂ + z²/(2n)        = 0.8 + 0.1920729 = 0.9920729   → centre = 0.9920729/1.3841459 = 0.7167402
      p̂(1−p̂)/n + z²/4n² = 0.016 + 0.0096036 = 0.0256036 → √ = 0.1600114
      half = 1.959964 · 0.1600114 / 1.3841459 = 0.2265777
      interval = [0.4901625, 0.9433178]
    """
    a_first = [A] * 7 + [TIE, A] + [B]  # prompts 8, 9: ties (a tie and a split)
    b_first = [A] * 7 + [TIE, B] + [B]
    slots = ["first"] * 20  # irrelevant to the win rate
    result = tally(a_first, b_first, slots)
    assert (result.wins, result.ties, result.losses, result.n) == (7, 2, 1, 10)
    assert result.win_rate == pytest.approx(0.8, abs=1e-12)  # exact up to float rounding
    # The hand values above carry 7 digits.
    assert result.ci_low == pytest.approx(0.4901625, abs=1e-7)
    assert result.ci_high == pytest.approx(0.9433178, abs=1e-7)


def test_a_judge_that_always_picks_the_first_slot_yields_ties_not_wins():
    """Position bias: A first → A, B first → B on every prompt; both orders cancel to a tie."""
    result = tally([A] * 6, [B] * 6, ["first"] * 12)
    assert (result.ties, result.win_rate, result.first_position_rate) == (6, 0.5, 1.0)


def test_win_and_tie_in_the_two_orders_is_a_win_and_invalid_orders_are_dropped():
    assert prompt_verdict(A, TIE) == 1.0
    assert prompt_verdict(TIE, B) == 0.0
    assert prompt_verdict(INVALID, B) == 0.0  # the valid order alone decides
    assert prompt_verdict(INVALID, INVALID) is None


def test_prompts_with_only_invalid_judgments_leave_n_and_count_as_invalid():
    result = tally(
        [A, INVALID, A],
        [A, INVALID, INVALID],
        ["first", "invalid", "invalid", "first", "invalid", "invalid"],
    )
    assert (result.n, result.no_verdict, result.invalid, result.win_rate) == (2, 1, 3, 1.0)


def test_wilson_interval_of_zero_successes_starts_at_zero_and_is_not_degenerate():
    """p̂ = 0 with n = 10: [0, z²/(n + z²)] = [0, 0.2775] (the Wald interval would be [0, 0])."""
    low, high = wilson_interval(0.0, 10)
    z2 = 1.959963984540054**2
    assert low == 0.0
    assert high == pytest.approx(z2 / (10 + z2), rel=1e-12)  # closed form at p̂ = 0


def test_bootstrap_interval_is_seeded_and_close_to_wilson_for_many_prompts():
    """n = 400 prompts at p = 0.7: both intervals estimate the same ±4.5 points."""
    scores = np.random.default_rng(0).binomial(1, 0.7, size=400).astype(float)
    first = bootstrap_interval(scores, np.random.default_rng(1))
    assert first == bootstrap_interval(scores, np.random.default_rng(1))
    wilson = wilson_interval(scores.mean(), scores.size)
    # Bootstrap quantiles of 2000 rounds wobble by ~0.005; the two methods differ by less.
    np.testing.assert_allclose(first, wilson, atol=0.01)


def test_first_position_rate_counts_decided_judgments_only():
    assert first_position_rate(["first", "second", "first", "tie", "invalid"]) == 2 / 3
    assert first_position_rate(["tie", "invalid"]) is None


# Boundaries pinned (a tie read as a win, an interval at another level, …)


@pytest.mark.parametrize(
    "a_first, b_first, score",
    [
        ("A", "A", 1.0),
        ("B", "B", 0.0),
        ("A", "B", 0.5),  # the orders disagree: a tie
        ("A", "tie", 1.0),
        ("tie", "B", 0.0),
        ("tie", "tie", 0.5),
        ("A", "invalid", 1.0),  # one valid order decides
        ("invalid", "B", 0.0),
        ("invalid", "invalid", None),  # no verdict, not a tie
    ],
)
def test_a_prompts_verdict_combines_its_two_orders(a_first, b_first, score):
    assert prompt_verdict(a_first, b_first) == score


def test_the_win_rate_counts_ties_as_half_and_drops_prompts_without_a_verdict():
    result = tally(["A", "A", "B", "invalid"], ["A", "B", "B", "invalid"], [])
    assert (result.n, result.wins, result.ties, result.win_rate) == (3, 1, 1, 0.5)


def test_the_wilson_interval_of_5_in_10_is_the_textbook_one():
    """5 of 10 at 95%: (0.2366, 0.7634) (Wilson 1927; e.g. Brown, Cai & DasGupta 2001)."""
    np.testing.assert_allclose(wilson_interval(0.5, 10), (0.2366, 0.7634), atol=1e-4)
    assert wilson_interval(0.5, 0) == (0.0, 1.0)
    np.testing.assert_allclose(wilson_interval(1.0, 10), (0.7225, 1.0), atol=1e-4)  # 10 of 10
    np.testing.assert_allclose(wilson_interval(0.0, 10), (0.0, 0.2775), atol=1e-4)


def test_the_bootstrap_interval_is_at_its_stated_95_percent_level():
    """Scores 0/1 half each over 400 prompts: the mean's sd is 0.5/√400 = 0.025, so the 95%
    percentile interval is 0.5 ± 1.96·0.025 = (0.451, 0.549); ±0.006 covers 2,000 resamples'
    quantile noise (measured spread ≈ 0.002)."""
    scores = [0.0, 1.0] * 200
    low, high = bootstrap_interval(scores, np.random.default_rng(0), rounds=2000)
    assert low == pytest.approx(0.451, abs=0.006) and high == pytest.approx(0.549, abs=0.006)
    narrow = bootstrap_interval(scores, np.random.default_rng(0), rounds=2000, level=0.5)
    assert narrow[1] - narrow[0] < (high - low) / 2  # 50% is ≈ 0.35 of the 95% width


def test_the_bootstrap_resamples_every_prompt_and_has_the_no_data_interval():
    rng = np.random.default_rng(0)
    assert bootstrap_interval([], rng) == (0.0, 1.0)  # no prompt: nothing is known
    assert bootstrap_interval([1.0], rng) == (1.0, 1.0)  # one prompt: every resample is it
    low, high = bootstrap_interval([1.0, 0.0], rng)  # the first prompt is drawn too
    assert (low, high) == (0.0, 1.0)


def test_tally_takes_the_bootstrap_interval_when_asked():
    result = tally([A] * 6 + [B] * 4, [A] * 6 + [B] * 4, [], "bootstrap", np.random.default_rng(1))
    assert result.win_rate == 0.6 and result.ci_low < 0.6 < result.ci_high
    assert (result.ci_low, result.ci_high) != wilson_interval(0.6, 10)
