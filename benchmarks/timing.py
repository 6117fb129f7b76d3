"""Paired timing: a candidate against its baseline, interleaved round by round.

These machines are noisy, so every speed claim is a ratio of medians measured in the same run,
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
    """Run both `rounds` times, interleaved; return (median baseline s, median candidate s).

    The candidate's times are pytest-benchmark's (they land in the JSON); the baseline's are
    taken in the setup hook of each round. One warm-up round of each comes first, so first-touch
    page faults of fresh buffers are not counted.
    """
    baseline()
    candidate()
    baseline_times: list[float] = []

    def time_baseline():
        start = time.perf_counter()
        baseline()
        baseline_times.append(time.perf_counter() - start)

    benchmark.pedantic(candidate, setup=time_baseline, rounds=rounds, iterations=1)
    return float(np.median(baseline_times)), float(benchmark.stats.stats.median)


def record(benchmark, figure: str, target: str, measured: float, unit: str, passed: bool) -> None:
    """Store one README table row in the benchmark's JSON (`extra_info`)."""
    benchmark.extra_info.update(
        {"figure": figure, "target": target, "measured": measured, "unit": unit, "passed": passed}
    )
