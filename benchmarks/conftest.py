"""Benchmark options: `--quick` shrinks every size so the whole run takes under 2 minutes."""

import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "smollm2: needs the embedded SmolLM2 model")


def pytest_addoption(parser):
    parser.addoption("--quick", action="store_true", help="reduced sizes (under 2 minutes)")


@pytest.fixture(scope="session")
def quick(request) -> bool:
    return request.config.getoption("--quick")
