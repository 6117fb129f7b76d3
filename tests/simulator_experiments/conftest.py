"""One probe world and its pretrained π₀, exactly as `python -m simulator run … --seed 0` draws
them (default size), shared by the folder's tests; `run` replays an experiment on them."""

import numpy as np
import pytest

from simulator import WorldConfig, build_world, pretrain, run_on
from simulator.experiments import seed_streams

SEED = 0


@pytest.fixture(scope="session")
def world():
    world_rng, _ = seed_streams(np.random.default_rng(SEED))
    return build_world(WorldConfig(), world_rng)


@pytest.fixture(scope="session")
def start(world):
    return pretrain(world)


@pytest.fixture(scope="session")
def run(world, start):
    """run(cfg) → Trace: the CLI's `run` at seed 0, reusing the shared world and π₀."""

    def replay(cfg):
        assert cfg.world == WorldConfig(), "the shared world is the default one"
        _, run_rng = seed_streams(np.random.default_rng(SEED))
        return run_on(cfg, world, start, run_rng)

    return replay
