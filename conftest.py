"""Shared pytest configuration: hypothesis profiles, the `slow` and `gpu` skips, and the HH
probe file fixture.

Profiles (select with HYPOTHESIS_PROFILE=dev|ci; `make test` uses ci):
- dev: few examples, fast feedback while editing.
- ci: more examples, no deadline (2 shared cores are noisy), print_blob for reproduction.
"""

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=25, deadline=None)
settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    """`slow` tests run only when `-m` names them; `gpu` tests only where CUDA is available."""
    run_slow = "slow" in (config.getoption("-m") or "")
    has_cuda = any("gpu" in item.keywords for item in items) and _cuda_available()  # no torch
    # import for a selection without gpu tests (each mutant of `make mutate` reruns one)
    skip_slow = pytest.mark.skip(
        reason="slow (real SmolLM2 or V = 49,152 on CPU); run with -m slow"
    )
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "slow" in item.keywords and not run_slow:
            item.add_marker(skip_slow)
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(skip_gpu)


HH_PROBES = Path(__file__).resolve().parent.parent / "shared" / "data" / "hh_probe_train.jsonl"


@pytest.fixture
def hh_probes() -> Path:
    """The 500 real HH probing examples of ../shared (never part of the repository); tests that
    need them skip where a fresh clone has no ../shared."""
    if not HH_PROBES.is_file():
        pytest.skip("../shared/data/hh_probe_train.jsonl is absent")
    return HH_PROBES
