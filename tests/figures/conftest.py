import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")
