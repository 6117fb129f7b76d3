"""One probe world and its pretrained π₀ (seed 0, default size), shared by the module's tests."""

import numpy as np
import pytest

from simulator import WorldConfig, build_world, pretrain

SEED = 0


@pytest.fixture(scope="session")
def world():
    return build_world(WorldConfig(), np.random.default_rng(SEED))


@pytest.fixture(scope="session")
def start(world):
    return pretrain(world)
