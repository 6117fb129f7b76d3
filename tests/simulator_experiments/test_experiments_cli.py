"""`python -m simulator list` and `run`: the experiments from the command line."""

import csv
import json

import numpy as np
import pytest

from common.runs import COLUMNS
from simulator import EXPERIMENTS, PROBE_TYPES
from simulator.experiments.cli import main, seed_list
from simulator.metrics import SQUEEZE_METRICS, WORLD_METRICS


def test_list_prints_one_line_per_experiment(capsys):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines] == list(EXPERIMENTS)


def test_run_json_reports_the_trend_of_every_probe_type_and_writes_the_trace(tmp_path, capsys):
    out = tmp_path / "dpo"
    assert main(["run", "dpo", "--steps", "4", "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["experiment"] == "dpo"
    assert set(report["trends"]) == set(PROBE_TYPES)
    assert all(set(t) == {"start", "max", "min", "end"} for t in report["trends"].values())
    assert set(report["squeeze"]) == set(SQUEEZE_METRICS)
    assert set(report["world"]) == set(WORLD_METRICS)
    assert 0 < report["world"]["chosen_token_prob_at_start"] < 1
    config = json.loads((out / "config.json").read_text())
    assert config["name"] == "dpo" and config["steps"] == 4 and config["seed"] == 0
    with open(out / "metrics.csv") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == COLUMNS
    assert {r[2] for r in rows[1:]} == {*PROBE_TYPES, "squeeze", "world"}


def test_run_prints_a_trend_table(tmp_path, capsys):
    assert main(["run", "sft", "--steps", "2", "--out", str(tmp_path), "--seed", "1"]) == 0
    captured = capsys.readouterr()
    table = captured.out.splitlines()
    assert table[0].startswith("sft:") and len(table) == 2 + len(PROBE_TYPES)
    assert "metrics.csv" in captured.err  # progress and the output path go to stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "no-such-experiment"],
        ["run", "dpo", "--steps", "0"],
        ["run", "dpo", "--steps", "many"],
        ["run", "dpo", "--seed", "x"],
        ["run", "dpo", "--vocab", "10"],
        ["run", "dpo", "--length", "3"],
    ],
)
def test_bad_input_is_one_line_on_stderr_and_exit_2(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("python -m simulator: error:")


def test_unwritable_output_is_a_user_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["run", "sft", "--steps", "1", "--out", str(blocker / "sub")]) == 2
    assert capsys.readouterr().err.strip().startswith("python -m simulator: error: cannot write")


@pytest.mark.parametrize(
    ("text", "seeds"),
    [("0-3", (0, 1, 2, 3)), ("0,2,5", (0, 2, 5)), ("0-1,7", (0, 1, 7)), ("4", (4,))],
)
def test_seeds_take_ranges_and_lists(text, seeds):
    assert seed_list(text) == seeds


@pytest.mark.parametrize("text", ["3-1", "a", "1,1", "0-2,2", "-1", "", "1-"])
def test_bad_seeds_are_one_line_on_stderr_and_exit_2(text, capsys):
    assert main(["run", "sft", "--seeds", text]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("python -m simulator: error: --seeds: ")


def test_run_seeds_reports_each_trend_over_the_seeds(tmp_path, capsys):
    """--seeds writes one run folder per seed and reports each trend's spread over them."""
    argv = ["run", "sft", "--steps", "2", "--out", str(tmp_path), "--seeds", "0,1", "--json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["seeds"] == [0, 1] and set(report["runs"]) == {"0", "1"}
    for seed in (0, 1):
        config = json.loads((tmp_path / f"seed-{seed}" / "config.json").read_text())
        assert config["seed"] == seed
    chosen = report["spread"]["chosen"]
    ends = [report["runs"][s]["trends"]["chosen"]["end"] for s in ("0", "1")]
    assert chosen["end"]["mean"] == pytest.approx(np.mean(ends))  # same two numbers: round-off
    assert chosen["end"]["sd"] == pytest.approx(np.std(ends, ddof=1))
    assert chosen["n"] == 2 and chosen["rises"] == 2  # two SFT steps on y⁺ raise it


def test_run_seeds_prints_one_row_per_probe_type(tmp_path, capsys):
    assert main(["run", "sft", "--steps", "2", "--out", str(tmp_path), "--seeds", "0-1"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0] == "sft: mean sequence log-prob per probe type, seeds 0,1"
    assert len(table) == 4 + len(PROBE_TYPES)
    assert next(line for line in table if line.startswith("chosen ")).split()[-3:][1] == "2/2"


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_a_rerun_into_a_finished_run_is_refused_and_leaves_it_byte_identical(tmp_path, capsys):
    """Nothing a run measured is lost to a mistyped command; --overwrite replaces it."""
    out = tmp_path / "dpo"
    assert main(["run", "dpo", "--steps", "2", "--out", str(out)]) == 0
    capsys.readouterr()
    before = _snapshot(out)
    assert main(["run", "dpo", "--steps", "3", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already holds the output of `simulator`" in err[0]
    assert "pass --overwrite to replace it" in err[0]  # the simulator has no --resume
    assert _snapshot(out) == before
    assert main(["run", "dpo", "--steps", "3", "--out", str(out), "--overwrite"]) == 0
    assert json.loads((out / "config.json").read_text())["steps"] == 3


def test_a_killed_run_keeps_every_evaluation_it_measured(tmp_path, monkeypatch, capsys):
    """A killed `simulator run --steps 100000000` keeps what it measured: the rows are appended
    as each evaluation is measured (killed here at the third), never left as an empty folder."""
    from common.runs import MetricsLog

    original, calls = MetricsLog.append, []

    def append(self, step, examples_seen, rows):
        calls.append(step)
        if len(calls) == 3:
            raise KeyboardInterrupt
        original(self, step, examples_seen, rows)

    monkeypatch.setattr(MetricsLog, "append", append)
    out = tmp_path / "sft"
    assert main(["run", "sft", "--steps", "40", "--out", str(out)]) == 130
    from common.runs import load_metrics

    steps = sorted({r[0] for r in load_metrics(out / "metrics.csv")})
    assert steps == calls[:2] and len(steps) == 2
    assert not (out / "summary.json").exists()
