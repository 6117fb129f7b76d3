"""The LM head applied at the scored positions only (`logprobs.response_rows`) against its naive
twin, the full-logits path, for training (`sequence_logps` and its gradients) and scoring
(`score`, every token statistic)."""

import numpy as np
import pytest
import torch

from llm_validation.core import logprobs
from llm_validation.core.logprobs import (
    body_and_head,
    collate,
    full_sequence_logps,
    score,
    sequence_logps,
    tokenize_example,
)

# fp32 round-off of a log-softmax over V ≤ 49,152 summed over ≤ 40 tokens is ~1e-5; the bar
TOL = 1e-4


def smollm2_shaped(layers: int = 2):
    """A random LlamaForCausalLM with SmolLM2-135M's widths, vocabulary and tied head, but
    `layers` blocks instead of 30 (the head and log-softmax, what the gather changes, are full
    size)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=49152,
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=layers,
        num_attention_heads=9,
        num_key_value_heads=3,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        attn_implementation="sdpa",
    )
    return LlamaForCausalLM(config).eval()


def random_batch(vocab: int, lengths, prompt_lengths, seed: int = 0):
    """Padded ids, attention and response masks for sequences of the given lengths."""
    g = torch.Generator().manual_seed(seed)
    items = [
        logprobs.Tokenized(tuple(torch.randint(1, vocab, (n,), generator=g).tolist()), p)
        for n, p in zip(lengths, prompt_lengths, strict=True)
    ]
    return items, collate(items, 0)


def _items(tokenizer, examples):
    items = []
    for ex in examples:
        items += tokenize_example(tokenizer, ex.prompt, ex.responses).values()
    return items


def test_tiny_models_split_into_body_and_head(tiny):
    """tiny-llama (LlamaForCausalLM) and tiny-neox (GPTNeoX) both take the gathered path."""
    model, _ = tiny
    parts = body_and_head(model)
    assert parts is not None and parts.head is model.get_output_embeddings()
    assert parts.vocab == model.config.vocab_size


def test_gathered_head_logprobs_equal_full_logits_on_tiny_models(tiny, synthetic_examples):
    """Training's log π(y|x) and its gradient through the gathered head equal the full-logits
    path's, within 1e-4 (max |Δ|, fp32)."""
    model, tokenizer = tiny
    ids, attention, response = collate(_items(tokenizer, synthetic_examples), 0)
    grads = []
    for fn in (sequence_logps, full_sequence_logps):
        model.zero_grad()
        logp = fn(model, ids, attention, response)
        logp.sum().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
        if fn is sequence_logps:
            gathered = logp.detach()
    full = logp.detach()
    assert (gathered - full).abs().max() <= TOL
    for g, f in zip(*grads, strict=True):
        torch.testing.assert_close(g, f, rtol=1e-4, atol=1e-5)  # fp32 round-off of a backward


def test_scoring_statistics_are_unchanged_by_the_gathered_head(tiny, synthetic_examples):
    """Every statistic of `score` (logp, logp_max for y*, mass outside the argmax, 1 − π_y,
    ‖π − e_y‖, ‖A‖_F, n_tokens) is the full-logits path's, within 1e-4."""
    model, tokenizer = tiny
    items = _items(tokenizer, synthetic_examples)
    gathered = score(model, items, tokenizer.eos_token_id, batch_tokens=160)
    full = score(model, items, tokenizer.eos_token_id, batch_tokens=160, split=False)
    assert gathered.keys() == full.keys()
    for name in full:
        np.testing.assert_allclose(gathered[name], full[name], rtol=0, atol=TOL, err_msg=name)


def test_gathered_head_equals_full_logits_on_a_smollm2_shaped_model(monkeypatch):
    """The bar on SmolLM2's shape (d = 576, V = 49,152, tied head; 2 random layers):
    max |Δ log π(y|x)| ≤ 1e-4 in fp32 for training (one chunk, and many checkpointed chunks,
    with the gradient of the head) and for scoring."""
    model = smollm2_shaped()
    items, (ids, attention, response) = random_batch(49152, [40, 33, 25, 12], [20, 10, 15, 4])
    full = full_sequence_logps(model, ids, attention, response)
    full.sum().backward()
    head_grad = model.get_output_embeddings().weight.grad.clone()
    model.zero_grad()
    one_chunk = sequence_logps(model, ids, attention, response)
    assert (one_chunk - full).abs().max().item() <= TOL
    monkeypatch.setattr(logprobs, "HEAD_CHUNK", 16 * 49152)  # 16 rows a chunk: 5 chunks here
    chunked = sequence_logps(model, ids, attention, response)
    chunked.sum().backward()
    assert (chunked - full).abs().max().item() <= TOL
    grad = model.get_output_embeddings().weight.grad
    assert (grad - head_grad).abs().max().item() <= 1e-5 * head_grad.abs().max().item()
    with torch.no_grad():
        stats = score(model, items, 0)
        oracle = score(model, items, 0, split=False)
    for name in oracle:
        np.testing.assert_allclose(stats[name], oracle[name], rtol=0, atol=TOL, err_msg=name)


def test_a_lora_model_splits_and_matches_the_full_path(tiny, synthetic_examples):
    """A peft LoRA model (adapters on attention and on the head) is split through its wrapper,
    the adapters stay in the path, and the log-probs equal its full forward's."""
    peft = pytest.importorskip("peft")
    model, tokenizer = tiny
    head = model.get_output_embeddings()
    head_name = next(n for n, m in model.named_modules() if m is head)
    target = ["q_proj", "v_proj"] if model.config.model_type == "llama" else ["query_key_value"]
    lora = peft.get_peft_model(model, peft.LoraConfig(r=4, target_modules=[*target, head_name]))
    for name, p in lora.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.1)  # non-zero adapters, or the check is vacuous
    parts = body_and_head(lora)
    assert parts is not None and "lora" in type(parts.head).__module__
    ids, attention, response = collate(_items(tokenizer, synthetic_examples), 0)
    with torch.no_grad():
        gathered = sequence_logps(lora, ids, attention, response)
        full = full_sequence_logps(lora, ids, attention, response)
        with lora.disable_adapter():
            base = full_sequence_logps(lora, ids, attention, response)
    assert (gathered - full).abs().max() <= TOL
    assert (full - base).abs().max() > 1e-3  # the adapters do change the log-probs


def test_a_model_that_does_not_split_takes_the_full_logits_path(tiny, synthetic_examples):
    """A wrapper whose logits are not its head's output alone (here: scaled by 2) is not split;
    `sequence_logps` then equals the full path on it."""
    model, tokenizer = tiny

    class Scaled(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, **kwargs):
            out = self.inner(**kwargs)
            out.logits = 2 * out.logits
            return out

    scaled = Scaled(model)
    assert body_and_head(scaled) is None
    ids, attention, response = collate(_items(tokenizer, synthetic_examples), 0)
    with torch.no_grad():
        torch.testing.assert_close(
            sequence_logps(scaled, ids, attention, response),
            full_sequence_logps(scaled, ids, attention, response),
        )
        assert (
            sequence_logps(scaled, ids, attention, response)
            - sequence_logps(model, ids, attention, response)
        ).abs().max() > 1e-3


def test_sdpa_and_eager_attention_give_the_same_logprobs(tiny, synthetic_examples):
    """Scoring and training run SDPA; the eNTK's jvp runs eager (`entk.eager_attention`): both
    give the same log-probs, padded batches included, within 1e-5 (fp32 round-off)."""
    from llm_validation.core.entk import eager_attention

    model, tokenizer = tiny
    assert model.config._attn_implementation == "sdpa"
    ids, attention, response = collate(_items(tokenizer, synthetic_examples), 0)
    with torch.no_grad():
        sdpa = sequence_logps(model, ids, attention, response)
        with eager_attention(model):
            assert model.config._attn_implementation == "eager"
            eager = sequence_logps(model, ids, attention, response)
    assert model.config._attn_implementation == "sdpa"  # restored
    torch.testing.assert_close(sdpa, eager, rtol=0, atol=1e-5)
