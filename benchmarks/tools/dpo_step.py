"""The trainer's DPO step on random token pairs, and the card's matmul rate, for the MFU benchmarks.

MFU (model FLOP utilisation) = (6 · N · T / step seconds) / (matmul FLOP/s), with N the model's
parameters, T the tokens of the 2B sequences of a step (prompt + response, padding not counted:
6 = 2 for the forward and 4 for the backward per parameter and token) and the matmul rate that of
an n × n × n `torch.mm` (2n³ operations) in the step's precision, measured in the same process.
The step is `train.train_step` itself: one concatenated forward of y⁺ and y⁻ (one or two length
buckets), the DPO loss against a precomputed reference, backward, clipping and the optimiser,
under the run's autocast, with the optimiser and compile settings `open_session` would choose.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from common.methods import plan
from llm_validation.config import RunConfig
from llm_validation.core.directions import make_optimizer
from llm_validation.core.logprobs import Tokenized
from llm_validation.presets import PRESETS
from llm_validation.training.runtime import compile_body, pick_compile
from llm_validation.training.train import Session, train_step

(DPO,) = plan("dpo", 1)


def llama(vocab: int, hidden: int, intermediate: int, layers: int, heads: int, kv_heads: int):
    """A random LlamaForCausalLM with a tied head and SDPA attention (as models load)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        attn_implementation="sdpa",
        use_cache=False,
    )
    return LlamaForCausalLM(config)


def smollm2_shaped():
    """SmolLM2-135M's architecture (30 layers, d = 576, V = 49,152), random weights: the FLOPs
    and shapes of the real model without needing its weights on the card's machine."""
    return llama(49152, 576, 1536, 30, 9, 3)


def tiny_llama():
    """A 2-layer, d = 64, V = 512 model: the CPU twin's (seconds, not minutes)."""
    return llama(512, 64, 128, 2, 4, 2)


def random_pairs(
    n: int, lengths: tuple[int, int], prompt: tuple[int, int], vocab: int, seed: int = 0
) -> list[tuple[Tokenized, Tokenized]]:
    """n (y⁺, y⁻) pairs of random tokens, total lengths drawn in [lengths], prompts in [prompt]
    (one prompt per pair, as tokenisation gives)."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(n):
        p = int(rng.integers(prompt[0], prompt[1] + 1))
        ids = [rng.integers(1, vocab, int(rng.integers(lengths[0], lengths[1] + 1))) for _ in "wl"]
        prefix = rng.integers(1, vocab, p).tolist()
        w, r = (Tokenized(tuple(prefix + x[p:].tolist()), p) for x in ids)
        pairs.append((w, r))
    return pairs


def session(model, device: torch.device, batch_size: int, out: Path) -> Session:
    """A `Session` that runs the paper-dpo preset's step (RMSprop, clipping at 10, β = 0.1) on
    `model`: bf16 autocast on a capable card, fp32 elsewhere; optimiser kernels and compile as
    `open_session` chooses them for `device`."""
    cfg = RunConfig(**PRESETS["paper-dpo"].values())
    cfg = replace(cfg, batch_size=batch_size, out=str(out), lr=1e-6)
    model = model.to(device).train()
    if pick_compile(cfg.compile, device):
        compile_body(model)
    bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    autocast = lambda: torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)
    optimizer = make_optimizer(cfg.optimizer, list(model.parameters()), cfg.lr)
    tokenizer = SimpleNamespace(eos_token_id=0)
    return Session(cfg, model, tokenizer, optimizer, [], [], None, out, autocast, None, {})


def step_fn(s: Session, pairs):
    """One optimiser step on `pairs` (all of them one batch), synchronised on a card."""
    reference = torch.zeros(len(pairs), 2, dtype=torch.float64)  # precomputed log π_ref
    index = list(range(len(pairs)))

    def step():
        train_step(s, DPO, pairs, index, reference)
        if s.model.device.type == "cuda":
            torch.cuda.synchronize()

    return step


def matmul_fn(device: torch.device, n: int, repeats: int):
    """(a callable running `repeats` n³ matmuls in the step's precision, its FLOPs)."""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in "ab")

    def mm():
        for _ in range(repeats):
            torch.mm(a, b)
        if device.type == "cuda":
            torch.cuda.synchronize()

    return mm, 2 * n**3 * repeats


def tokens(pairs) -> int:
    """Prompt + response tokens of the 2B sequences, padding not counted."""
    return sum(len(w.ids) + len(r.ids) for w, r in pairs)


def steps_per_second(s: Session, batches: list, warmup: int = 2) -> float:
    """Optimiser steps per second over `batches` (one step each), after `warmup` steps."""
    for pairs in batches[:warmup]:
        step_fn(s, pairs)()
    start = time.perf_counter()
    for pairs in batches[warmup:]:
        step_fn(s, pairs)()
    return (len(batches) - warmup) / (time.perf_counter() - start)
