"""`--resume` continues a run with a larger `--steps` (as the HF Trainer's resume_from_checkpoint
with a larger max_steps) and from a moved folder; it reproduces the uninterrupted run."""

import shutil

import pytest

from common.runs import read_metrics
from llm_validation.cli import main

BASE = ["run", "--method", "sft", "--model", "tiny-neox", "--data", "synthetic", "--limit", "8"]
BASE += ["--probe-limit", "4", "--eval-every", "2", "--optimizer", "sgd", "--lr", "1e-2"]


def logp(folder):
    return {
        (int(r["step"]), r["probe_type"]): float(r["value"])
        for r in read_metrics(folder / "metrics.csv")
        if r["metric"] == "logp"
    }


def test_a_larger_steps_extends_a_moved_run_exactly_as_the_uninterrupted_run(tmp_path):
    whole, part, moved = tmp_path / "whole", tmp_path / "part", tmp_path / "moved"
    assert main([*BASE, "--steps", "4", "--out", str(whole)]) == 0
    assert main([*BASE, "--steps", "2", "--out", str(part)]) == 0
    shutil.move(part, moved)
    assert main([*BASE, "--steps", "4", "--out", str(moved), "--resume"]) == 0
    ours, reference = logp(moved), logp(whole)
    assert sorted(ours) == sorted(reference)
    for key, value in reference.items():
        assert ours[key] == pytest.approx(value, abs=1e-5)  # fp32 CPU replay of the same steps


def test_resume_still_refuses_a_smaller_steps_or_another_setting(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*BASE, "--steps", "2", "--out", str(out)]) == 0
    assert main([*BASE, "--steps", "1", "--out", str(out), "--resume"]) == 2
    assert "(steps)" in capsys.readouterr().err
    assert main([*BASE, "--steps", "2", "--lr", "0.5", "--out", str(out), "--resume"]) == 2
    assert "(lr)" in capsys.readouterr().err
