"""Boundaries, defaults and hand-computed values that issue 29 found unpinned: each test fails
when the named behaviour changes (a strict inequality made loose, a default moved, a tie read as
a win, an interval at another level)."""

import numpy as np
import pytest

from common.runs import last_phase_start
from llm_validation.core.winrate_stats import (
    bootstrap_interval,
    first_position_rate,
    prompt_verdict,
    tally,
    wilson_interval,
)
from llm_validation.runs.callback import SQUEEZE_MARGIN, squeezing
from llm_validation.runs.presets import PRESETS
from llm_validation.runs.winrate import pair_up


@pytest.mark.parametrize(
    "config, start",
    [
        ({"method": "dpo", "steps": 8}, 0),
        ({"method": "sft", "steps": 8, "sft_steps": 3}, 0),  # one phase: sft_steps unused
        ({"method": "sft-dpo", "steps": 8}, 8),  # sft_steps defaults to steps
        ({"method": "extend-dpo", "steps": 8, "sft_steps": None}, 8),
        ({"method": "extend-dpo", "steps": 8, "sft_steps": 3}, 3),
        ({"method": "sft-dpo", "steps": 8, "sft_steps": 0}, 0),  # 0 is a value, not "unset"
        ({"method": "sft-dpo"}, 0),  # a config without steps
    ],
)
def test_last_phase_start_reads_sft_steps_then_steps(config, start):
    assert last_phase_start(config) == start


def _rows(chosen: float, star: float) -> dict:
    return {("chosen", "logp"): chosen, ("y_star", "logp"): star}


def test_squeezing_needs_both_moves_strictly_beyond_the_margin():
    start, m = _rows(-10.0, -20.0), SQUEEZE_MARGIN
    assert squeezing(_rows(-10.0 - 2 * m, -20.0 + 2 * m), start)
    assert not squeezing(_rows(-10.0 - m, -20.0 + 2 * m), start)  # exactly the margin: no
    assert not squeezing(_rows(-10.0 - 2 * m, -20.0 + m), start)
    assert not squeezing(_rows(-10.0 + 2 * m, -20.0 + 2 * m), start)  # chosen rose: no
    assert not squeezing({("chosen", "logp"): -99.0}, start)  # no y* scored
    assert squeezing(_rows(-10.5, -19.5), start, margin=0.4)
    assert not squeezing(_rows(-10.5, -19.5), start, margin=0.5)


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


def test_first_position_rate_counts_decided_judgments_only():
    assert first_position_rate(["first", "second", "tie", "invalid", "first"]) == 2 / 3
    assert first_position_rate(["tie", "invalid"]) is None


def test_pairing_matches_the_kth_occurrence_of_a_prompt_and_counts_the_rest():
    a = [("p", "a1"), ("q", "a2"), ("p", "a3"), ("r", "a4")]
    b = [("p", "b1"), ("p", "b3"), ("s", "b5"), ("q", "b2")]
    pairs, unmatched = pair_up(a, b)
    assert pairs == [("p", "a1", "b1"), ("q", "a2", "b2"), ("p", "a3", "b3")]
    assert unmatched == 2  # r in A, s in B


@pytest.mark.parametrize(
    "name, every",
    [(n, 25) for n in PRESETS if n.startswith("paper-")]
    + [(n, 4) for n in PRESETS if n.startswith("cpu-")],
)
def test_each_preset_evaluates_at_its_stated_cadence(name, every):
    """paper-*: every 25 steps of 4 pairs (the paper's 100 pairs); cpu-*: every 4 steps."""
    assert PRESETS[name].values()["eval_every"] == every


def test_relative_influence_is_normalised_along_each_row_and_zero_rows_stay_zero():
    """Ĩ's rows (one per probe) are unit vectors: the axis is the update axis, not the probe one."""
    from llm_validation.core.drift import drift, row_normalised

    m = np.array([[3.0, 4.0], [0.0, 0.0], [0.0, -2.0]])
    np.testing.assert_array_equal(row_normalised(m), [[0.6, 0.8], [0.0, 0.0], [0.0, -1.0]])
    flipped = m * np.array([[1.0], [1.0], [-1.0]])  # one row's sign reversed
    assert drift(m, flipped)["max_change"] == 2.0  # (0, −1) → (0, 1): the largest possible
    same = drift(m, 5 * m)  # a scale is no drift
    assert same["max_change"] == 0.0 and same["correlation"] == pytest.approx(1.0, abs=1e-12)
