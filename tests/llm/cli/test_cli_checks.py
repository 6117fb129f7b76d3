"""The run command's own checks and report: bad settings before a model loads, --resume with a
changed configuration, the closing log-prob movement line."""

import pytest

from common.runs import write_metrics
from llm_validation.cli import main, movement


def _error(capsys, argv) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err.strip()


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["--batch-size", "4", "--micro-batch-size", "8"],
            "--micro-batch-size must lie in [1, batch size]",
        ),
        (["--micro-batch-size", "0"], "--micro-batch-size: must be an integer ≥ 1, got 0"),
        (["--probe-types", "chosen,bogus"], "unknown probe types: bogus"),
        (["--eval-every", "0"], "--eval-every: must be an integer ≥ 1, got 0"),
        (["--eval-at", "20,0"], "--eval-at must be comma-separated integers ≥ 1, got '20,0'"),
        (["--eval-at", "20;40"], "--eval-at must be comma-separated integers ≥ 1, got '20;40'"),
        (["--track-intervals", "1,x"], "--track-intervals must be comma-separated integers ≥ 1"),
        # each of these must not end in a traceback or run silently on nonsense
        (["--lr", "-1"], "--lr: must be a finite number ≥ 0, got -1.0"),
        (["--lr", "nan"], "--lr: must be a finite number ≥ 0, got nan"),
        (["--lr", "inf"], "--lr: must be a finite number ≥ 0, got inf"),
        (["--limit", "0"], "--limit: must be an integer ≥ 1, got 0"),
        (["--limit", "-3"], "--limit: must be an integer ≥ 1, got -3"),
        (["--probe-limit", "0"], "--probe-limit: must be an integer ≥ 1, got 0"),
        (["--probe-limit", "-1"], "--probe-limit: must be an integer ≥ 1, got -1"),
        (["--beta", "-1"], "--beta: must be a finite number > 0, got -1.0"),
        (["--beta", "0"], "--beta: must be a finite number > 0, got 0.0"),
        (["--delta", "nan"], "--delta: must be a finite number ≥ 0, got nan"),
        (["--lam", "-0.5"], "--lam: must be a finite number ≥ 0, got -0.5"),
        (["--gamma", "inf"], "--gamma: must be a finite number ≥ 0, got inf"),
        (["--max-grad-norm", "nan"], "--max-grad-norm: must be a finite number ≥ 0, got nan"),
        (["--seed", "-1"], "--seed: must be an integer ≥ 0 and ≤ 4294967295, got -1"),
        (["--seed", str(2**32)], "--seed: must be an integer ≥ 0 and ≤ 4294967295"),
        (["--max-length", "3"], "--max-length 3 leaves no response token after"),
        (["--max-length", "256"], "--max-length 256 leaves no response token after"),
        (["--resume", "--overwrite"], "--resume and --overwrite exclude each other"),
    ],
)
def test_a_setting_that_cannot_run_is_one_line_before_anything_loads(
    capsys, tmp_path, flags, message
):
    code, err = _error(
        capsys, ["run", "--model", "tiny-neox", "--out", str(tmp_path / "r"), *flags]
    )
    assert code == 2 and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r").exists()  # rejected before the run folder is made


def test_resume_with_a_changed_configuration_names_the_fields(capsys, tmp_path):
    base = [
        "run",
        "--method",
        "sft",
        "--model",
        "tiny-neox",
        "--limit",
        "4",
        "--probe-limit",
        "1",
        "--steps",
        "1",
        "--eval-every",
        "1",
        "--out",
        str(tmp_path),
    ]
    assert main(base) == 0
    capsys.readouterr()
    code, err = _error(capsys, [*base, "--resume", "--lr", "0.1", "--seed", "2"])
    assert code == 2 and len(err.splitlines()) == 1
    assert "--resume with a different configuration (lr, seed)" in err


def test_the_closing_line_reports_the_first_and_last_evaluation(tmp_path):
    path = tmp_path / "metrics.csv"
    rows = [
        (s, 4 * s, kind, "logp", v + s)
        for s in (0, 5, 10)
        for kind, v in (("chosen", -30.0), ("rejected", -40.0))
    ]
    write_metrics(path, rows + [(10, 40, "train", "loss", 0.5)])
    assert (
        movement(path) == "logp from step 0 to 10: chosen -30.00 → -20.00, rejected -40.00 → -30.00"
    )
