"""`logprobs`: score a probe file once with the batched scorer → per-example statistics."""

from __future__ import annotations

import sys

import numpy as np

from llm_validation.core.logprobs import Truncation
from llm_validation.runs.config import ScoreConfig
from llm_validation.runs.runtime import pick_device
from llm_validation.runs.tracking import build_probes, evaluate
from llm_validation.sources.data import load_examples
from llm_validation.sources.models import load_model


def main(cfg: ScoreConfig) -> dict[str, dict[str, np.ndarray]]:
    """{probe type: {statistic: Shape (n,)}} for every probe type of the file, y* included."""
    device = pick_device(cfg.device)
    examples, report = load_examples(
        cfg.probes, required=(), strict=cfg.strict, limit=cfg.limit, seed=cfg.seed
    )
    print(f"probes: {report.summary()}", file=sys.stderr)
    model, tokenizer = load_model(cfg.model, seed=cfg.seed, device=device)
    truncation = Truncation(cfg.max_length, cfg.max_prompt_length, cfg.truncation_mode)
    probes = build_probes(tokenizer, examples, truncation)
    return evaluate(model, probes, tokenizer.eos_token_id, cfg.batch_tokens, progress=True)
