"""Target 6: the theory suite under the hypothesis `ci` profile finishes in under 5 minutes."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .tools.timing import record

ROOT = Path(__file__).resolve().parent.parent
THEORY_SUITE_TARGET_S = 300.0


def test_theory_suite_wall_time_under_ci_profile(benchmark, quick):
    if quick:
        pytest.skip("the theory suite's wall time is measured only without --quick")
    env = {**os.environ, "HYPOTHESIS_PROFILE": "ci"}
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        str(ROOT / "theory_tests"),
    ]
    outcome = {}

    def run_suite():
        start = time.perf_counter()
        outcome["rc"] = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True).returncode
        outcome["wall"] = time.perf_counter() - start

    benchmark.pedantic(run_suite, rounds=1, iterations=1)
    wall = outcome["wall"]
    record(
        benchmark,
        "`pytest theory_tests`, ci profile",
        "< 300 s",
        wall,
        "s",
        wall < THEORY_SUITE_TARGET_S,
    )
    assert outcome["rc"] == 0, "the theory suite failed"
    assert wall < THEORY_SUITE_TARGET_S
