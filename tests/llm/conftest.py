"""Tiny causal LMs from real config classes (tiny-neox, tiny-llama) for the llm_validation tests.

torch and transformers are an extra: the whole folder skips without them. Tests that need the
real HH probes read `<repo>/../shared/data/hh_probe_train.jsonl` and skip when it is absent.

Tests marked `slow` (the real SmolLM2 on CPU) run only when asked for with `-m slow`.
"""

import os

import pytest

# Sleeping, not spinning, OpenMP threads (see llm_validation/__main__.py); effective only if
# torch is not loaded yet in this pytest process.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")


@pytest.fixture(params=["tiny-neox", "tiny-llama"])
def tiny(request):
    """(model, tokenizer) in fp32, eval mode, seed 0."""
    from llm_validation.sources.models import load_model

    return load_model(request.param, seed=0)


@pytest.fixture
def synthetic_examples():
    from llm_validation.sources.synthetic import generate

    return generate(6, seed=3)
