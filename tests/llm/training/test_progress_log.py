"""A run redirected to a file (a batch job's log) writes plain lines: no \\r, no cursor escapes
(nested tqdm bars would write 64 \\r and 30 cursor-up escapes; 44 with TQDM_DISABLE=1)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("tqdm_disable", [None, "1"])
def test_a_run_redirected_to_a_file_writes_no_carriage_return(tmp_path, tqdm_disable):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("TQDM_DISABLE", None)
    if tqdm_disable:
        env["TQDM_DISABLE"] = tqdm_disable
    log = tmp_path / "log"
    argv = ["run", "--method", "sft", "--model", "tiny-neox", "--limit", "8", "--probe-limit"]
    argv += ["4", "--steps", "4", "--eval-every", "2", "--out", str(tmp_path / "run")]
    with log.open("wb") as handle:
        done = subprocess.run(
            [sys.executable, "-m", "llm_validation", *argv],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            timeout=300,
        )
    text = log.read_bytes()
    assert done.returncode == 0, text.decode()[-2000:]
    assert text.count(b"\r") == 0 and text.count(b"\x1b") == 0
    assert b"sft: step 4/4 (100%), loss=" in text
