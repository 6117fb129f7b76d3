import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")

from threadpoolctl import threadpool_limits  # noqa: E402  (a scikit-learn dependency)


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """The figures' matrices are small; like the CLI, run them on one BLAS thread."""
    with threadpool_limits(limits=1):
        yield
