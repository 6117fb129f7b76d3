"""On real (tiny) runs: a finished run's folder is never clobbered by a rerun or by a
second process, --overwrite leaves nothing of the old run behind (its π_ref included), and a
non-finite loss names the learning rate unless the data is at fault."""

import subprocess
import sys

import pytest
import torch

from common.runs import LOCK
from llm_validation.cli import main
from llm_validation.training import train

RUN = [
    "run",
    "--method",
    "dpo",
    "--model",
    "tiny-llama",
    "--data",
    "synthetic",
    "--limit",
    "8",
    "--probe-limit",
    "2",
    "--steps",
    "2",
    "--eval-every",
    "1",
    "--batch-size",
    "4",
]


def snapshot(folder) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _run(capsys, out, *extra) -> tuple[int, list[str]]:
    code = main([*RUN, "--out", str(out), *extra])
    err = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    return code, err


@pytest.fixture
def finished(tmp_path, capsys):
    out = tmp_path / "run"
    assert _run(capsys, out, "--seed", "0")[0] == 0
    return out


def test_a_rerun_without_resume_is_refused_and_the_run_is_byte_identical(finished, capsys):
    """A rerun without --resume must not exit 0, truncate metrics.csv and train against the old
    π_ref: it is refused and the folder stays byte-identical."""
    before = snapshot(finished)
    code, err = _run(capsys, finished, "--seed", "1")
    assert code == 2 and len(err) == 1 and "already holds a run" in err[0]
    assert snapshot(finished) == before


def test_a_second_process_writing_the_folder_stops_at_once_naming_its_pid(finished, capsys):
    """While another process holds the folder (its PID in .lock), a run aimed at it, even
    --resume or --overwrite, stops with one line naming that PID, and nothing changes."""
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (finished / LOCK).write_text(f"{holder.pid}\n")
        before = snapshot(finished)
        for flag in ("--resume", "--overwrite"):
            code, err = _run(capsys, finished, "--seed", "0", flag)
            assert code == 2 and f"being written by process {holder.pid}" in err[0]
        assert snapshot(finished) == before
    finally:
        holder.kill()
        holder.wait()


def test_overwrite_trains_exactly_as_in_an_empty_folder(finished, tmp_path, capsys):
    """The old run's reference_0.pt and checkpoint are removed first: the replacing run's
    metrics equal those of the same run in a new folder, byte for byte."""
    assert _run(capsys, finished, "--seed", "1", "--overwrite")[0] == 0
    assert _run(capsys, tmp_path / "fresh", "--seed", "1")[0] == 0
    fresh = (tmp_path / "fresh" / "metrics.csv").read_bytes()
    assert (finished / "metrics.csv").read_bytes() == fresh


def test_resume_without_a_config_json_is_refused(finished, capsys):
    (finished / "config.json").unlink()
    before = snapshot(finished)
    code, err = _run(capsys, finished, "--seed", "0", "--resume")
    assert code == 2 and "--resume" in err[0] and "holds no config.json" in err[0]
    assert snapshot(finished) == before


def test_a_cached_reference_from_other_inputs_is_recomputed_not_reused(tmp_path, capsys):
    path = tmp_path / "reference_0.pt"
    torch.save({"fingerprint": "a", "value": torch.ones(2, 2)}, path)
    assert train.cached_reference(path, "a").tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert train.cached_reference(path, "b") is None
    torch.save(torch.ones(2, 2), path)  # an unfingerprinted cache (older runs): never trusted
    assert train.cached_reference(path, "a") is None
    assert "recomputing" in capsys.readouterr().err


def test_a_non_finite_loss_from_a_huge_lr_names_the_lr_not_the_data(tmp_path, capsys):
    """A non-finite loss from `--lr inf`-like steps names the learning rate, not innocent data
    lines."""
    code = main(
        [
            *RUN[:2],
            "sft",
            *RUN[3:],
            "--optimizer",
            "sgd",
            "--lr",
            "1e30",
            "--max-grad-norm",
            "0",
            "--steps",
            "3",
            "--out",
            str(tmp_path / "r"),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and "lr 1e+30" in err and "the learning rate is the likely cause" in err
    assert "example(s)" not in err
