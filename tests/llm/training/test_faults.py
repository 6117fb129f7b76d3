"""Long runs under faults: SIGKILL mid-step, a removed run folder, a full disk, a NaN or inf loss.

Each fault ends the run one of two ways: killed from outside (then `--resume` must reproduce the
uninterrupted run), or stopped from inside with one line `python -m llm_validation: error: …`
and exit status 2, keeping every evaluation already written.
"""

import errno
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from common.runs import MetricsLog, read_metrics
from llm_validation import cli
from llm_validation.config import RunConfig
from llm_validation.training import checkpoint, train
from tests.faults import KILLED_MID_STEP

FLAGS = dict(
    method="dpo",
    model="tiny-neox",
    data="synthetic",
    limit=8,
    probe_limit=4,
    batch_size=4,
    micro_batch_size=2,
    optimizer="adamw",
    lr=3e-3,
    steps=4,
    eval_every=2,
)
ERROR = "python -m llm_validation: error: "


def _argv(out: Path, **overrides) -> list[str]:
    flags = {**FLAGS, **overrides, "out": str(out)}
    return ["run", *(a for k, v in flags.items() for a in (f"--{k.replace('_', '-')}", str(v)))]


@pytest.mark.parametrize("kill_at", [1, 3])
def test_a_run_killed_mid_step_and_resumed_writes_the_metrics_of_an_uninterrupted_run(
    tmp_path, kill_at
):
    """SIGKILL inside step 1 (before any checkpoint) or step 3 (after the step-2 checkpoint),
    with the step's gradients half accumulated; `--resume` then gives byte-identical metrics.csv.
    """
    whole = train.main(RunConfig(out=str(tmp_path / "whole"), **FLAGS))
    parted = tmp_path / "parted"
    child = subprocess.run(
        [sys.executable, "-c", KILLED_MID_STEP, *_argv(parted)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "KILL_AT": str(kill_at)},
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    assert "killing mid-step" in child.stderr
    steps = {int(r["step"]) for r in read_metrics(parted / "metrics.csv")}
    assert steps == ({0} if kill_at == 1 else {0, 2})  # what the killed run had written
    resumed = train.main(RunConfig(out=str(parted), resume=True, **FLAGS))
    assert (resumed / "metrics.csv").read_text() == (whole / "metrics.csv").read_text()


def _one_line_error(capsys, argv) -> str:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(ERROR) and sum(ERROR in line for line in err) == 1
    assert not any("Traceback" in line for line in err)
    return err[-1]


def _at_step(monkeypatch, step: int, action) -> None:
    """Call `action(session)` just before optimiser step `step` (counted from 1) runs."""
    original = train.train_step

    def train_step(session, phase, batch, index, reference, at=0):
        if at + 1 == step:
            action(session)
        return original(session, phase, batch, index, reference, at)

    monkeypatch.setattr(train, "train_step", train_step)


def test_a_run_whose_folder_is_removed_mid_run_ends_with_one_line(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    _at_step(monkeypatch, 3, lambda session: shutil.rmtree(session.out))
    line = _one_line_error(capsys, _argv(out))
    assert f"the run folder {out} was removed" in line
    assert "metrics.csv" in line or "prompts.csv" in line  # the evaluation's first write


def test_a_full_disk_ends_with_one_line_and_keeps_every_complete_evaluation(
    tmp_path, capsys, monkeypatch
):
    """The disk fills while the step-4 rows are written, after half of them reached the file:
    metrics.csv is cut back to the step-2 evaluation, which it keeps whole."""
    out = tmp_path / "run"
    original = MetricsLog.append

    def append(self, step, examples_seen, rows):
        if step == 4:
            rows = list(rows)
            original(self, step, examples_seen, rows[: len(rows) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))
        original(self, step, examples_seen, rows)

    monkeypatch.setattr(MetricsLog, "append", append)
    line = _one_line_error(capsys, _argv(out))
    assert "No space left on device" in line and "keeps the evaluations through step 2" in line
    rows = read_metrics(out / "metrics.csv")
    assert {int(r["step"]) for r in rows} == {0, 2}
    per_step = [sum(int(r["step"]) == s for r in rows) for s in (0, 2)]
    assert per_step[1] == per_step[0] + 1  # step 2 has every probe metric and the training loss


def test_a_checkpoint_that_cannot_be_written_leaves_the_previous_one(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    original = torch.save

    def save(obj, target):
        if isinstance(obj, dict) and obj.get("step") == 4:
            target.write(b"half a checkpoint")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        original(obj, target)

    monkeypatch.setattr(checkpoint.torch, "save", save)
    line = _one_line_error(capsys, _argv(out))
    assert "No space left on device" in line
    assert torch.load(out / checkpoint.CHECKPOINT, weights_only=True)["step"] == 2
    assert not list(out.glob("*.tmp"))


@pytest.mark.parametrize("value", [float("nan"), float("-inf")])
def test_a_non_finite_loss_stops_the_run_naming_the_step_and_the_example(
    tmp_path, capsys, monkeypatch, value
):
    """log π(y⁺) of one example becomes NaN (or −inf: the loss is +inf) in step 2: the run stops
    before the optimiser steps, naming step 2 and that example only, and writes nothing after."""
    out = tmp_path / "run"
    poisoned = train.batch_indices(8, FLAGS["batch_size"], 1, seed=0)[1]  # in step 2's batch
    original = train.group_logps
    state = {"step": 0}

    def group_logps(model, pairs, *args):
        logp, length = original(model, pairs, *args)
        target = state["session"].pairs[poisoned] if state["step"] == 2 else None
        if any(p is target for p in pairs):
            b = next(i for i, p in enumerate(pairs) if p is target)
            chosen = logp["chosen"].clone()
            chosen[b] = value
            logp = {**logp, "chosen": chosen}
        return logp, length

    def remember(session):
        state.update(step=2, session=session)

    monkeypatch.setattr(train, "group_logps", group_logps)
    _at_step(monkeypatch, 2, remember)
    line = _one_line_error(capsys, _argv(out))
    examples = line.split("example(s) ")[1].split(";")[0]
    assert "at step 2 (dpo)" in line and examples == f"synthetic:{poisoned}"
    assert {int(r["step"]) for r in read_metrics(out / "metrics.csv")} == {0}
    assert not (out / checkpoint.CHECKPOINT).exists()


def test_resume_drops_the_torn_last_row_of_a_killed_write(tmp_path):
    """A process killed inside an evaluation's write can leave a partial last row ("1" of a step
    "10", or a row without its value); resuming keeps only complete rows up to the checkpoint."""
    from common.runs import COLUMNS, MetricsLog, read_metrics

    path = tmp_path / "metrics.csv"
    path.write_text(",".join(COLUMNS) + "\n0,0,chosen,logp,-3.0\n2,8,chosen,logp,-2.5\n1")
    MetricsLog(path, keep_through=2)
    assert [r["step"] for r in read_metrics(path)] == ["0", "2"]
    path.write_text(",".join(COLUMNS) + "\n0,0,chosen,logp,-3.0\n2,8,chosen,logp\n")
    MetricsLog(path, keep_through=2)
    assert [r["step"] for r in read_metrics(path)] == ["0"]
