"""Several processes: torchrun with 2 CPU processes (gloo) against one process."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from common.runs import read_metrics

ROOT = Path(__file__).resolve().parents[2]
TORCHRUN = shutil.which("torchrun") or str(Path(sys.executable).with_name("torchrun"))


def launch(args: list[str], tmp_path: Path) -> None:
    """Run `args` from the repository root, one OpenMP thread a process (2 cores here), and
    fail with the tail of its output if it fails."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def rows(path: Path) -> dict[tuple[str, str, str], float]:
    return {
        (r["step"], r["probe_type"], r["metric"]): float(r["value"]) for r in read_metrics(path)
    }


def assert_same_metrics(one: Path, two: Path) -> None:
    """Same rows, and every value within 1e-5: the two launches train on the same 4 examples a
    step (one batch of 4, or two ranks' batches of 2 whose DDP-averaged gradient is the same
    mean), so they differ only by float32 rounding of a different reduction order (measured:
    ≤ 3.8e-6 on log-probs of magnitude ≤ 133, i.e. ~3e-8 relative)."""
    a, b = rows(one), rows(two)
    assert a.keys() == b.keys()
    keys = sorted(a)
    np.testing.assert_allclose([b[k] for k in keys], [a[k] for k in keys], rtol=0, atol=1e-5)


@pytest.mark.skipif(not Path(TORCHRUN).exists(), reason="torchrun is not installed")
def test_callback_under_torchrun_two_processes_equals_one_process(tmp_path):
    """A user's DPOTrainer script with the callback, unchanged, under `torchrun
    --nproc_per_node 2`: probes sharded (each rank scores half), gathered, written once by rank 0;
    the metrics equal the single-process run's."""
    launch([sys.executable, "-m", "tests.llm_trl.ddp_run", str(tmp_path / "one")], tmp_path)
    launch(
        [TORCHRUN, "--nproc_per_node", "2", "-m", "tests.llm_trl.ddp_run", str(tmp_path / "two")],
        tmp_path,
    )
    assert_same_metrics(tmp_path / "one" / "metrics.csv", tmp_path / "two" / "metrics.csv")
    ranks = [json.loads((tmp_path / f"two-rank{r}.json").read_text()) for r in (0, 1)]
    single = json.loads((tmp_path / "one-rank0.json").read_text())
    assert [r["world"] for r in ranks] == [2, 2]
    assert sum(r["scored"] for r in ranks) == single["scored"]
    assert max(r["scored"] for r in ranks) < single["scored"]


@pytest.mark.skipif(not Path(TORCHRUN).exists(), reason="torchrun is not installed")
def test_callback_scores_an_fsdp_model_like_the_unsharded_one(tmp_path):
    """An FSDP2 (fully_shard) model's forward is a collective, so under FSDP every rank scores
    every probe through the wrapped model (no probe sharding); the rows equal the unsharded
    single-process model's (same weights, seed 0; a different reduction order only)."""
    launch(
        [sys.executable, "-m", "tests.llm_trl.fsdp_measure", str(tmp_path / "one.json")], tmp_path
    )
    launch(
        [
            TORCHRUN,
            "--nproc_per_node",
            "2",
            "-m",
            "tests.llm_trl.fsdp_measure",
            str(tmp_path / "two.json"),
        ],
        tmp_path,
    )
    one, two = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("one", "two"))
    assert (one["fsdp"], two["fsdp"]) == (False, True)
    assert [r[:2] for r in one["rows"]] == [r[:2] for r in two["rows"]]
    # all-gathered fp32 shards are the same numbers: measured difference 0; 1e-5 as elsewhere
    np.testing.assert_allclose([r[2] for r in two["rows"]], [r[2] for r in one["rows"]], atol=1e-5)
