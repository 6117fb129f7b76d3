"""The learning-dynamics tests on real LMs need torch and transformers (the `llm` extra)."""

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
