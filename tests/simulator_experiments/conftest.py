"""Probe worlds and their pretrained π₀, exactly as `python -m simulator run … --seed S` draws
them, shared by the folder's tests; `run` replays an experiment on seed 0's,
`run_at` on any seed's."""

from functools import cache

import numpy as np
import pytest

from simulator import WorldConfig, build_world, pretrain, run_on, trends
from simulator.experiments import seed_streams
from simulator.metrics import final_values

SEED = 0
DEFAULT_WORLD = WorldConfig()


@cache
def _pretrained(seed: int, world_cfg: WorldConfig = DEFAULT_WORLD):
    """The world drawn from `seed` (default size unless told) and its π₀ (pure, so cached)."""
    world_rng, _ = seed_streams(np.random.default_rng(seed))
    world = build_world(world_cfg, world_rng)
    return world, pretrain(world)


@pytest.fixture(scope="session")
def pretrained():
    """pretrained(seed) → (world, π₀) of `run --seed seed`."""
    return _pretrained


@pytest.fixture(scope="session")
def world():
    return _pretrained(SEED)[0]


@pytest.fixture(scope="session")
def start():
    return _pretrained(SEED)[1]


@pytest.fixture(scope="session")
def run_at():
    """run_at(cfg, seed) → Trace: the CLI's `run --seed seed`, reusing that seed's world (cfg's
    world: the default one unless overridden) and its π₀."""

    def replay(cfg, seed):
        world, start = _pretrained(seed, cfg.world)
        _, run_rng = seed_streams(np.random.default_rng(seed))
        return run_on(cfg, world, start, run_rng)

    return replay


@pytest.fixture(scope="session")
def outcome(run_at):
    """outcome(cfg, seed) → {probe_type: trends, "squeeze": final squeeze measures} of
    `run --seed seed`, computed once per session (the claims read each run several times)."""

    @cache
    def read(cfg, seed):
        trace = run_at(cfg, seed)
        return {**trends(trace), "squeeze": final_values(trace, "squeeze")}

    return read


@pytest.fixture(scope="session")
def run(run_at):
    """run(cfg) → Trace: the CLI's `run` at seed 0."""
    return lambda cfg: run_at(cfg, SEED)
