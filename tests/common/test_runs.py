"""The run-folder contract: a folder holding a run is never clobbered, two writers
never share one, and the one reader of metrics.csv drops a torn line but refuses what it cannot
trust. Pure stdlib: no model is loaded."""

import math
import os
import subprocess
import sys

import pytest

from common.errors import UserError
from common.runs import (
    CONFIG,
    LOCK,
    RunFileError,
    claim_run_dir,
    load_metrics,
    read_config,
    resume_changes,
    write_metrics,
)

CONFIG_A = {"lr": 1e-5, "steps": 4, "resume": False}


def snapshot(folder) -> dict:
    """Every file under folder with its bytes: what 'byte-identical' compares."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def finished_run(tmp_path):
    """A folder as a finished run leaves it: config, metrics, a cached reference, a checkpoint
    and a subfolder."""
    folder = tmp_path / "run"
    with claim_run_dir(folder, CONFIG_A):
        write_metrics(folder / "metrics.csv", [(0, 0, "chosen", "logp", -3.0)])
        (folder / "reference_0.pt").write_bytes(b"old pi_ref")
        (folder / "checkpoint.pt").write_bytes(b"old weights")
        (folder / "arrays").mkdir()
        (folder / "arrays" / "step_000000.npz").write_bytes(b"x")
    return folder


def test_a_claim_writes_config_json_and_releases_its_lock(tmp_path):
    folder = tmp_path / "new" / "run"
    with claim_run_dir(folder, CONFIG_A) as out:
        assert out == folder and (folder / LOCK).read_text().strip() == str(os.getpid())
    assert read_config(folder) == CONFIG_A
    assert not (folder / LOCK).exists()


def test_a_rerun_without_resume_or_overwrite_is_refused_and_the_folder_is_byte_identical(
    tmp_path,
):
    folder = finished_run(tmp_path)
    before = snapshot(folder)
    with pytest.raises(UserError, match="already holds a run .*--resume.*--overwrite"):
        claim_run_dir(folder, {**CONFIG_A, "lr": 0.1})
    assert snapshot(folder) == before


def test_another_commands_output_is_named(tmp_path):
    folder = tmp_path / "p"
    with claim_run_dir(folder, {"kind": "predict"}):
        pass
    with pytest.raises(UserError, match="holds the output of `predict`"):
        claim_run_dir(folder, CONFIG_A)


def test_resume_takes_the_same_config_and_names_every_changed_setting(tmp_path):
    folder = finished_run(tmp_path)
    with claim_run_dir(folder, {**CONFIG_A, "resume": True}, resume=True):  # volatile: resume
        pass
    before = snapshot(folder)
    changed = {**CONFIG_A, "lr": 0.1, "steps": 2, "new": 1}  # fewer steps: not an extension
    with pytest.raises(UserError, match=r"different configuration \(lr, new, steps\)"):
        claim_run_dir(folder, changed, resume=True)
    assert snapshot(folder) == before


def test_resume_extends_a_run_with_more_steps_from_a_moved_folder(tmp_path):
    """As the HF Trainer's resume_from_checkpoint with a larger max_steps: more --steps (the last
    phase starting where it did) and another --out are not changes --resume refuses."""
    folder = finished_run(tmp_path)
    longer = {**CONFIG_A, "steps": 8, "out": "elsewhere"}
    with claim_run_dir(folder, longer, resume=True):
        pass
    assert resume_changes(CONFIG_A, longer) == []
    two_phase = {"method": "sft-dpo", "steps": 4}
    assert resume_changes(two_phase, {**two_phase, "steps": 8}) == ["steps"]  # SFT grows too
    assert resume_changes(two_phase, {**two_phase, "steps": 8, "sft_steps": 4}) == ["sft_steps"]


@pytest.mark.parametrize("damage", ["missing", "torn"])
def test_resume_without_a_readable_config_is_refused(tmp_path, damage):
    """--resume on a folder whose config.json is missing is refused: it must not take any flags
    over the old checkpoint and rewrite the config."""
    folder = finished_run(tmp_path)
    if damage == "missing":
        (folder / CONFIG).unlink()
    else:
        (folder / CONFIG).write_text('{"lr": 1e-')
    before = snapshot(folder)
    with pytest.raises(UserError):
        claim_run_dir(folder, CONFIG_A, resume=True)
    assert snapshot(folder) == before


def test_overwrite_removes_the_old_runs_files_references_and_checkpoints_included(tmp_path):
    folder = finished_run(tmp_path)
    with claim_run_dir(folder, {**CONFIG_A, "lr": 0.1}, overwrite=True):
        assert sorted(p.name for p in folder.iterdir()) == [LOCK, CONFIG]
    assert read_config(folder)["lr"] == 0.1


def test_a_folder_of_other_files_is_never_written_even_with_overwrite(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    for flags in ({}, {"overwrite": True}, {"resume": True}):
        with pytest.raises(UserError, match="not a run folder"):
            claim_run_dir(tmp_path, CONFIG_A, **flags)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_resume_and_overwrite_exclude_each_other(tmp_path):
    with pytest.raises(UserError, match="exclude each other"):
        claim_run_dir(tmp_path / "r", CONFIG_A, resume=True, overwrite=True)
    assert not (tmp_path / "r").exists()


def test_a_second_process_fails_at_once_naming_the_holders_pid(tmp_path):
    """While this process holds the folder, another one aimed at it (even with --overwrite)
    stops with one line naming our PID, and the folder is byte-identical afterwards."""
    folder = finished_run(tmp_path)
    code = (
        "import sys; from common.runs import claim_run_dir; from common.errors import UserError\n"
        "try: claim_run_dir(sys.argv[1], {}, overwrite=True)\n"
        "except UserError as e: print(e); sys.exit(2)\n"
    )
    with claim_run_dir(folder, CONFIG_A, resume=True):
        before = snapshot(folder)
        other = subprocess.run(
            [sys.executable, "-c", code, str(folder)], capture_output=True, text=True, check=False
        )
        assert other.returncode == 2
        assert f"being written by process {os.getpid()}" in other.stdout
        assert snapshot(folder) == before


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path):
    folder = tmp_path / "r"
    folder.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    (folder / LOCK).write_text(dead.stdout)
    with claim_run_dir(folder, CONFIG_A):
        assert (folder / LOCK).read_text().strip() == str(os.getpid())


def test_a_writer_that_fails_before_writing_leaves_a_new_folder_as_it_found_it(tmp_path):
    """`--lr -1` leaves no folder holding only config.json (which would refuse the next run)."""
    folder = tmp_path / "r"
    with pytest.raises(UserError), claim_run_dir(folder, CONFIG_A):
        raise UserError("bad data")
    assert not folder.exists()


def test_a_writer_that_fails_after_writing_keeps_what_it_wrote(tmp_path):
    folder = tmp_path / "r"
    with pytest.raises(KeyboardInterrupt), claim_run_dir(folder, CONFIG_A):
        write_metrics(folder / "metrics.csv", [(0, 0, "chosen", "logp", -3.0)])
        raise KeyboardInterrupt
    assert sorted(p.name for p in folder.iterdir()) == [CONFIG, "metrics.csv"]


def test_an_outer_writers_folder_is_taken_again_by_its_inner_writer(tmp_path):
    """`run --backend trl` claims the folder, then its callback does: no refusal, one lock."""
    folder = tmp_path / "r"
    with claim_run_dir(folder, CONFIG_A):
        with claim_run_dir(folder, {"other": 1}):
            pass
        assert (folder / LOCK).exists()  # still held by the outer claim
    assert not (folder / LOCK).exists()
    assert read_config(folder) == CONFIG_A


HEADER = "step,examples_seen,probe_type,metric,value\n"


def test_the_torn_last_line_of_a_killed_writer_is_dropped(tmp_path):
    """A metrics.csv whose last line a kill tore is read without it (no TypeError downstream)."""
    path = tmp_path / "metrics.csv"
    path.write_text(HEADER + "0,0,chosen,logp,-3.0\n2,8,chosen,logp,-2.5\n1")
    assert load_metrics(path) == [(0, 0, "chosen", "logp", -3.0), (2, 8, "chosen", "logp", -2.5)]
    path.write_text(HEADER + "0,0,chosen,logp,-3.0\n2,8,chosen,logp\n")
    assert load_metrics(path) == [(0, 0, "chosen", "logp", -3.0)]


@pytest.mark.parametrize(
    "body, message",
    [
        (
            "0,0,chosen,logp,-3.0\n0,0,chosen,logp,-3.1\n",
            ":3: a second row for step 0, chosen, logp",
        ),
        ("2,8,chosen,logp,-3.0\n0,0,chosen,logp,-3.1\n", ":3: step 0 after step 2"),
        ("0,0,chosen,logp,nan\n2,8,chosen,logp,-3.1\n", ":2: value 'nan' is not a finite"),
        ("0,0,chosen,logp,inf\n2,8,chosen,logp,-3.1\n", ":2: value 'inf' is not a finite"),
        ("0,0,chosen,logp,high\n2,8,chosen,logp,-3.1\n", ":2: value 'high' is not a finite"),
        ("0,0,chosen,logp,-3\n,8,chosen,logp,-3.1\n2,8,chosen,logp,-3\n", ":3: incomplete row"),
        ("x,0,chosen,logp,-3\n2,8,chosen,logp,-3\n", ":2: incomplete row"),
        ("", ": no rows"),
    ],
)
def test_what_the_reader_cannot_trust_is_refused_with_file_and_line(tmp_path, body, message):
    path = tmp_path / "metrics.csv"
    path.write_text(HEADER + body)
    with pytest.raises(RunFileError, match=str(path) + message):
        load_metrics(path)


def test_a_missing_column_is_named(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("step,probe_type,metric,value\n0,chosen,logp,-3\n")
    with pytest.raises(RunFileError, match="missing column.s. examples_seen"):
        load_metrics(path)


def test_the_simulator_rows_round_trip_through_the_reader(tmp_path):
    rows = [(0, 0, "chosen", "logp", -3.25), (0, 0, "rejected", "logp", -math.pi)]
    write_metrics(tmp_path / "m.csv", rows)
    assert load_metrics(tmp_path / "m.csv") == rows  # repr(float) written: exact back


def test_only_the_kernel_trackers_rows_may_hold_an_undefined_nan(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text(HEADER + "0,0,kernel,drift_correlation_all,nan\n0,0,chosen,logp,-3\n")
    assert math.isnan(load_metrics(path)[0][4])
    path.write_text(HEADER + "0,0,kernel,drift_correlation_all,inf\n0,0,chosen,logp,-3\n")
    with pytest.raises(RunFileError, match=":2: value 'inf'"):
        load_metrics(path)


def test_a_lock_just_created_and_not_yet_written_is_not_taken_over(tmp_path):
    """The window between O_CREAT and the PID's write: an empty, fresh lock is another
    process's claim in progress, not a stale one."""
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / LOCK).write_text("")
    with pytest.raises(UserError, match="being claimed by another process"):
        claim_run_dir(folder, CONFIG_A)
    os.utime(folder / LOCK, (0, 0))  # an empty lock from 1970: its writer died long ago
    with claim_run_dir(folder, CONFIG_A):
        assert (folder / LOCK).read_text().strip() == str(os.getpid())


def test_a_live_holder_is_refused_whatever_its_pid(tmp_path):
    """Any live process but this one holds the lock (a PID above ours or below)."""
    folder = tmp_path / "r"
    folder.mkdir()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        for pid in (child.pid, os.getppid()):
            (folder / LOCK).write_text(f"{pid}\n")
            with pytest.raises(UserError, match=f"being written by process {pid}"):
                claim_run_dir(folder, CONFIG_A)
    finally:
        child.kill()
        child.wait()


def test_run_files_takes_one_run_folder_or_every_run_below_a_folder(tmp_path):
    from common.runs import run_files

    root = tmp_path / "runs"
    for name in ("b", "a"):
        (root / name).mkdir(parents=True)
        write_metrics(root / name / "metrics.csv", [])
    assert run_files(root, "metrics.csv") == [
        root / "a" / "metrics.csv",
        root / "b" / "metrics.csv",
    ]
    assert run_files(root / "a", "metrics.csv") == [root / "a" / "metrics.csv"]
    assert run_files(root, "summary.json") == []


def test_run_names_and_their_data_part():
    from pathlib import Path

    from common.runs import data_name, run_dir

    assert data_name("synthetic") == "synthetic"
    assert data_name("data/hh_probe_train.jsonl") == "hh_probe_train"
    assert data_name("a_synthetic.jsonl") == "a_synthetic"
    assert run_dir("mine", "dpo", "x") == Path("mine")
    assert run_dir(None, "dpo", "models/SmolLM2", "synthetic") == Path("runs/dpo-SmolLM2-synthetic")


def test_releasing_leaves_a_lock_that_another_process_holds(tmp_path):
    folder = tmp_path / "r"
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with claim_run_dir(folder, CONFIG_A):
            (folder / LOCK).write_text(f"{child.pid}\n")  # taken over meanwhile
        assert (folder / LOCK).read_text() == f"{child.pid}\n"
    finally:
        child.kill()
        child.wait()


def test_a_resumed_metrics_log_keeps_the_rows_through_the_checkpoint_step(tmp_path):
    from common.runs import MetricsLog, read_metrics

    path = tmp_path / "metrics.csv"
    write_metrics(path, [(s, 4 * s, "chosen", "logp", -1.0) for s in (0, 2, 4)])
    MetricsLog(path, keep_through=2)  # the checkpoint's step is kept, later ones dropped
    assert [r["step"] for r in read_metrics(path)] == ["0", "2"]
    MetricsLog(path, keep_through=None).append(0, 0, [("chosen", "logp", -2.0)])  # anew
    assert [(r["step"], r["value"]) for r in read_metrics(path)] == [("0", "-2.0")]
