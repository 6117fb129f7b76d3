"""The simulator CLI: its acceptance checks, and one-line errors for bad input."""

import json
import subprocess
import sys

import pytest

from simulator.experiments.cli import main

PROPOSITION_1_LOSSES = ["sft", "dpo", "ipo", "slic", "simpo", "rpo", "pg"]


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("loss", PROPOSITION_1_LOSSES)
def test_decompose_relative_error_is_small_and_first_order_in_lr(capsys, loss):
    coarse = _json(capsys, ["decompose", "--loss", loss, "--lr", "1e-2", "--json"])
    fine = _json(capsys, ["decompose", "--loss", loss, "--lr", "1e-3", "--json"])
    assert fine["relative_error"] < 1e-2
    assert coarse["relative_error"] / fine["relative_error"] >= 5.0
    assert {"loss", "lr", "relative_error", "actual", "predicted"} <= fine.keys()


def test_squeeze_on_a_valley_raises_only_the_argmax(capsys):
    out = _json(capsys, ["squeeze", "--target", "valley", "--json"])
    assert out["target_prob_after"] < out["target_prob_before"]
    assert out["argmax_prob_after"] > out["argmax_prob_before"]
    assert out["n_increased"] == 1


def test_squeeze_on_the_peak_spreads_mass(capsys):
    out = _json(capsys, ["squeeze", "--target", "peak", "--json"])
    assert out["n_increased"] >= out["vocab"] - 2


@pytest.mark.parametrize(
    "argv",
    [
        ["decompose", "--loss", "nope"],
        ["decompose", "--lr", "0"],
        ["decompose", "--vocab", "1"],
        ["squeeze", "--target-prob", "1.5"],
        ["squeeze", "--lr", "-1"],
        [],
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(argv):
    proc = subprocess.run(
        [sys.executable, "-m", "simulator", *argv], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "argv, message",
    [  # each must not print a table of NaN with a trend labelled "down"
        (["squeeze", "--peakiness", "inf"], "--peakiness: must be a finite number ≥ 0, got inf"),
        (["squeeze", "--peakiness", "nan"], "--peakiness: must be a finite number ≥ 0, got nan"),
        (["squeeze", "--peakiness", "-1"], "--peakiness: must be a finite number ≥ 0, got -1.0"),
        (["squeeze", "--lr", "nan"], "--lr: must be a finite number > 0, got nan"),
        (["squeeze", "--target-prob", "1"], "--target-prob: must be a finite number > 0 and < 1"),
        (["decompose", "--lr", "inf"], "--lr: must be a finite number > 0, got inf"),
        (["decompose", "--seed", "-1"], "--seed: must be an integer ≥ 0 and ≤ 4294967295"),
        (["run", "dpo", "--lr", "nan"], "--lr: must be a finite number > 0, got nan"),
        (["run", "dpo", "--lr", "inf"], "--lr: must be a finite number > 0, got inf"),
        (["run", "dpo", "--beta", "nan"], "--beta: must be a finite number > 0, got nan"),
    ],
)
def test_a_non_finite_or_out_of_range_number_is_one_line_naming_the_flag(argv, message, capsys):
    from simulator.experiments.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"python -m simulator: error: {message}")
