"""One run folder whoever trains: the native trainer, `--backend trl` and the callback
in a user's own trainer write the same files and the same summary.json keys (common.runs), record
the same phases, report
truncation, print no per-step dicts on stdout, and config.json says what was written."""

import json

from common.methods import plan
from common.runs import RUN_FILES, SUMMARY_KEYS
from llm_validation.cli import main
from llm_validation.trl.callback import LearningDynamicsCallback

from .trainers import dpo

TINY = ["--method", "dpo", "--model", "tiny-neox", "--data", "synthetic", "--limit", "8"]
TINY += ["--probe-limit", "4", "--steps", "2", "--eval-every", "1", "--no-checkpoint"]


def listing(folder):
    """The files of a run folder, less what the CLI draws from them (curves.png)."""
    return sorted(p.name for p in folder.iterdir() if p.suffix != ".png")


def summary_keys(folder):
    return sorted(json.loads((folder / "summary.json").read_text()))


def phases(folder):
    return json.loads((folder / "summary.json").read_text())["phases"]


def test_native_trl_and_callback_folders_list_the_same_files_and_summary_keys(
    tmp_path, examples, capsys
):
    native, trl, callback = tmp_path / "native", tmp_path / "trl", tmp_path / "callback"
    assert main(["run", *TINY, "--out", str(native)]) == 0
    native_out = capsys.readouterr()
    assert main(["run", *TINY, "--backend", "trl", "--out", str(trl)]) == 0
    trl_out = capsys.readouterr()
    tracker = LearningDynamicsCallback(examples[:4], eval_every=1, out=callback, progress=False)
    dpo(examples[:8], tmp_path / "trainer", tracker, steps=2).train()

    assert listing(native) == listing(trl) == listing(callback) == sorted(RUN_FILES)
    assert summary_keys(native) == summary_keys(trl) == summary_keys(callback)
    assert summary_keys(native) == sorted(SUMMARY_KEYS)
    # the phases each writer ran, recorded alike: the registry's one DPO phase of two steps
    assert phases(native) == phases(trl) == phases(callback) == [p.record() for p in plan("dpo", 2)]
    for folder in (native, trl, callback):  # the probes' truncation report, everywhere
        inputs = json.loads((folder / "summary.json").read_text())["inputs"]
        assert "probes" in inputs["truncation"]
    for folder in (native, trl):  # and the training data's, where the command trained on it
        inputs = json.loads((folder / "summary.json").read_text())["inputs"]
        assert inputs["truncation"]["training pairs"]["responses"] == {"chosen": 8, "rejected": 8}
    assert "{'loss'" not in trl_out.out and "{'loss'" not in native_out.out  # no per-step dicts
    assert json.loads((trl / "config.json").read_text())["checkpoint"] is False
    assert not (trl / "checkpoint.pt").exists()
