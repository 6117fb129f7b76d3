"""Probe worlds and their pretrained π₀, exactly as `python -m simulator run … --seed S` draws
them (default size), shared by the folder's tests; `run` replays an experiment on seed 0's,
`run_at` on any seed's."""

from functools import cache

import numpy as np
import pytest

from simulator import WorldConfig, build_world, pretrain, run_on
from simulator.experiments import seed_streams

SEED = 0


@cache
def _pretrained(seed: int):
    """The default world drawn from `seed` and its π₀ (pure in seed, so cached)."""
    world_rng, _ = seed_streams(np.random.default_rng(seed))
    world = build_world(WorldConfig(), world_rng)
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
    """run_at(cfg, seed) → Trace: the CLI's `run --seed seed`, reusing that seed's world and π₀."""

    def replay(cfg, seed):
        assert cfg.world == WorldConfig(), "the shared worlds are the default ones"
        world, start = _pretrained(seed)
        _, run_rng = seed_streams(np.random.default_rng(seed))
        return run_on(cfg, world, start, run_rng)

    return replay


@pytest.fixture(scope="session")
def run(run_at):
    """run(cfg) → Trace: the CLI's `run` at seed 0."""
    return lambda cfg: run_at(cfg, SEED)
