"""Tests of the trl extra: the learning-dynamics callback inside transformers / trl trainers, the
trl backend of `run`, and multi-process runs. The folder skips without torch, transformers, trl
or datasets (the `trl` extra). Every test trains tiny-neox on CPU for a few steps."""

import os

import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("trl")
pytest.importorskip("datasets")


@pytest.fixture(scope="module")
def examples():
    """16 synthetic examples with every rule-built probe type (seed 0)."""
    from llm_validation.sources.synthetic import generate

    return generate(16, seed=0)
