"""`dpo_picture` (the paper's long-DPO checks on one run) and `trend_spread` (trends over seeds)
decide what their docstrings say, on hand-made trends."""

import pytest

from simulator.metrics import BYSTANDERS, PROBE_TYPES, dpo_picture, trend_spread


def _trends(**changes):
    """Every type from −10 to −15 (a fall, no rise) unless given as (max, end) from start −10."""
    out = {p: {"start": -10.0, "max": -10.0, "min": -15.0, "end": -15.0} for p in PROBE_TYPES}
    out["rejected"] = {"start": -10.0, "max": -10.0, "min": -40.0, "end": -40.0}
    out["y_star"] = {"start": -5.0, "max": -4.0, "min": -5.0, "end": -4.0}
    out["chosen"] = {"start": -10.0, "max": -8.0, "min": -12.0, "end": -12.0}
    out["irr_train"] = {"start": -10.0, "max": -9.0, "min": -15.0, "end": -15.0}
    for probe, (peak, end) in changes.items():
        out[probe] = {"start": -10.0, "max": peak, "min": min(end, -10.0), "end": end}
    return out


def test_the_papers_picture_passes_every_check():
    assert all(dpo_picture(_trends()).values())


@pytest.mark.parametrize(
    ("changes", "failed"),
    [
        ({"chosen": (-10.0, -12.0)}, "chosen rises, then ends below its start"),  # no rise
        ({"chosen": (-8.0, -10.0)}, "chosen rises, then ends below its start"),  # end = start
        ({"irr_train": (-10.0, -15.0)}, "irr_train rises, then ends below its start"),  # no rise
        ({"irr_test": (-10.0, -10.0)}, "every untrained type ends below its start"),
        ({"random_nonhum": (-10.0, -50.0)}, "rejected falls most"),
        ({"y_star": (-10.0, -10.0)}, "y_star ends above its start"),
    ],
)
def test_each_check_fails_on_its_own_counterexample(changes, failed):
    picture = dpo_picture(_trends(**changes))
    assert [k for k, ok in picture.items() if not ok] == [failed]


def test_every_bystander_is_checked():
    for probe in BYSTANDERS:
        assert not dpo_picture(_trends(**{probe: (-10.0, -9.0)}))[
            "every untrained type ends below its start"
        ], probe


def test_spread_counts_the_seeds_that_agree_and_gives_mean_sd_and_range():
    """Two seeds: y⁺ ends at −12 and −6 from −10 (one fall, one rise; mean −9, sd √18)."""
    a, b = _trends(), _trends(chosen=(-6.0, -6.0))
    spread = trend_spread([a, b])["chosen"]
    assert spread["end"] == pytest.approx({"mean": -9.0, "sd": 18**0.5, "min": -12.0, "max": -6.0})
    assert spread["change"]["mean"] == pytest.approx(1.0)
    assert (spread["n"], spread["falls"], spread["rises"], spread["peaks"]) == (2, 1, 1, 2)
    assert trend_spread([a, b])["rejected"]["falls_most"] == 2


def test_spread_of_one_seed_has_no_sd():
    assert trend_spread([_trends()])["chosen"]["start"]["sd"] is None


def test_keys_other_than_probe_types_are_ignored():
    """A run's outcome may carry its squeeze measures beside the trends (a regression: the
    picture once read them as a probe type and failed on the missing 'end')."""
    t = {**_trends(), "squeeze": {"bystander_change": -1.0}}
    assert all(dpo_picture(t).values())
    assert "squeeze" not in trend_spread([t])
