"""Boundaries, defaults and hand-computed values, pinned: each test fails
when the named behaviour changes (a strict inequality made loose, a default moved, a tie read as
a win, an interval at another level)."""

import numpy as np
import pytest

from common.runs import last_phase_start, planned_phases
from llm_validation.alignment.winrate import pair_up
from llm_validation.presets import PRESETS
from llm_validation.training.dynamics import SQUEEZE_MARGIN, squeezing


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
    assert last_phase_start(planned_phases(config)) == start


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


def test_pairing_matches_the_kth_occurrence_of_a_prompt_and_counts_the_rest():
    a = [("p", "a1"), ("q", "a2"), ("p", "a3"), ("r", "a4")]
    b = [("p", "b1"), ("p", "b3"), ("s", "b5"), ("q", "b2")]
    pairs, unmatched = pair_up(a, b)
    assert pairs == [("p", "a1", "b1"), ("q", "a2", "b2"), ("p", "a3", "b3")]
    assert unmatched == 2  # r in A, s in B


@pytest.mark.parametrize(
    "name, every",
    [(n, 25) for n in PRESETS if n.startswith("paper-")]
    + [(n, 130 if n == "cpu-squeeze" else 4) for n in PRESETS if n.startswith("cpu-")]
    + [("gpu-dpo", 100), ("gpu-sft", 50), ("gpu-sft-dpo", 100), ("gpu-extend-dpo", 100)]
    + [("gpu-onpolicy-dpo", 20)],
)
def test_each_preset_evaluates_at_its_stated_cadence(name, every):
    """paper-*: every 25 steps of 4 pairs (the paper's 100 pairs); cpu-*: every 4 steps but the
    squeeze's, which also reads irr_train's early rise at steps 20, 40 and 60."""
    values = PRESETS[name].values()
    assert values["eval_every"] == every
    assert values.get("eval_at") == ("20,40,60" if name == "cpu-squeeze" else None)


def test_relative_influence_is_normalised_along_each_row_and_zero_rows_stay_zero():
    """Ĩ's rows (one per probe) are unit vectors: the axis is the update axis, not the probe one."""
    from llm_validation.core.drift import drift, row_normalised

    m = np.array([[3.0, 4.0], [0.0, 0.0], [0.0, -2.0]])
    np.testing.assert_array_equal(row_normalised(m), [[0.6, 0.8], [0.0, 0.0], [0.0, -1.0]])
    flipped = m * np.array([[1.0], [1.0], [-1.0]])  # one row's sign reversed
    assert drift(m, flipped)["max_change"] == 2.0  # (0, −1) → (0, 1): the largest possible
    same = drift(m, 5 * m)  # a scale is no drift
    assert same["max_change"] == 0.0 and same["correlation"] == pytest.approx(1.0, abs=1e-12)
