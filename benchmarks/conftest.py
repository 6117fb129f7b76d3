"""Benchmark options: `--quick` shrinks every size so the whole run takes under 2 minutes."""

import ctypes
import ctypes.util

import pytest

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3


def _keep_freed_memory_in_the_heap() -> None:
    """Ask glibc to serve large arrays from the heap and keep freed memory there.

    By default glibc maps every block over 32 MB afresh and unmaps it on free, so each large
    numpy temporary pays first-touch page faults again; under this sandbox's kernel that costs as
    much as the arithmetic (a 64 MB buffer: ~0.2 s cold vs ~0.02 s warm). Both sides of every
    paired ratio run under the same setting, so the ratios measure the code, not the page-fault
    path. A no-op where glibc's mallopt is absent.
    """
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(M_MMAP_THRESHOLD, 2**30)
        libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1)


_keep_freed_memory_in_the_heap()


def pytest_configure(config):
    config.addinivalue_line("markers", "smollm2: needs the embedded SmolLM2 model")


def pytest_addoption(parser):
    parser.addoption("--quick", action="store_true", help="reduced sizes (under 2 minutes)")


@pytest.fixture(scope="session")
def quick(request) -> bool:
    return request.config.getoption("--quick")
