"""Targets 1 and 2: the simulator step against numpy's matmul, and `simulator run dpo` wall time."""

import time

import numpy as np
import pytest

from simulator import Responses, UpdateBatch, linear_kernel, take_step
from simulator.experiments import EXPERIMENTS, run_experiment

from .tools.timing import paired_ratio, record

FULL_SIZES = [(64, 1024), (512, 8192), (2048, 32768)]
# Quick sizes keep N = 2048 at the top: the ratio is set by the arithmetic intensity, 2N flops
# of matmul per element of O(NV) work, so a smaller N would measure a different, lower bound.
QUICK_SIZES = [(64, 1024), (512, 2048), (2048, 4096)]
STEP_RATIO_TARGET = 0.5  # at the largest size: the step is one N×N×V matmul plus O(NV) passes


def _dense_problem(n: int, v: int, rng: np.random.Generator):
    """Every input updates on one label, so G is dense and K G is a full N×N×V matmul."""
    z = rng.standard_normal((n, v))
    k = linear_kernel(rng.standard_normal((n, 64)) / 8.0)
    batch = UpdateBatch({"y": Responses.single_labels(np.arange(n), rng.integers(v, size=n))})
    return z, k, batch


@pytest.mark.parametrize("size", range(3), ids=["small", "medium", "large"])
def test_simulator_step_rate_against_matmul(benchmark, quick, size):
    n, v = (QUICK_SIZES if quick else FULL_SIZES)[size]
    z, k, batch = _dense_problem(n, v, np.random.default_rng(0))
    g = np.random.default_rng(1).standard_normal((n, v))
    rounds = (
        5  # the first rounds at the largest size still page in fresh memory; the median skips them
    )
    t_matmul, t_step = paired_ratio(
        benchmark, lambda: take_step(z, k, "sft", batch, 1e-3), lambda: k @ g, rounds
    )
    flops = 2.0 * n * n * v  # the K G product; everything else is O(NV)
    ratio = t_matmul / t_step
    largest = size == 2
    benchmark.extra_info.update(
        {
            "step_s": t_step,
            "matmul_s": t_matmul,
            "step_gflops": flops / t_step / 1e9,
            "matmul_gflops": flops / t_matmul / 1e9,
        }
    )
    record(
        benchmark,
        f"simulator step (N, V) = ({n}, {v}): GFLOP/s vs numpy matmul",
        f"≥ {STEP_RATIO_TARGET}" if largest else "(reported)",
        ratio,
        "×",
        ratio >= STEP_RATIO_TARGET or not largest,
    )
    if largest:
        assert ratio >= STEP_RATIO_TARGET, f"step reaches {ratio:.2f}× of matmul's rate"


def test_simulator_run_dpo_wall_time(benchmark):
    cfg = EXPERIMENTS["dpo"]
    start = time.perf_counter()
    benchmark.pedantic(
        lambda: run_experiment(cfg, np.random.default_rng(0)), rounds=1, iterations=1
    )
    wall = time.perf_counter() - start
    record(benchmark, "`simulator run dpo` at default size", "< 5 s", wall, "s", wall < 5.0)
    assert wall < 5.0
