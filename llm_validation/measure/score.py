"""`logprobs`: score a probe file once with the batched scorer → per-example statistics."""

from __future__ import annotations

import numpy as np

from llm_validation.config import ScoreConfig
from llm_validation.core.logprobs import CutReport
from llm_validation.sources.data import load_examples
from llm_validation.sources.models import chat_template, load_model
from llm_validation.training.runtime import pick_device
from llm_validation.training.tracking import (
    build_probes,
    evaluate,
    report_cuts,
    report_load,
    truncation_of,
)


def main(cfg: ScoreConfig) -> dict[str, dict[str, np.ndarray]]:
    """{probe type: {statistic: Shape (n,)}} for every probe type of the file, y* included."""
    device = pick_device(cfg.device)
    examples, report = load_examples(
        cfg.probes,
        template=chat_template(cfg.model),
        required=(),
        strict=cfg.strict,
        limit=cfg.limit,
        seed=cfg.seed,
    )
    report_load("probes", report)
    model, tokenizer = load_model(cfg.model, seed=cfg.seed, device=device)
    cuts = CutReport()
    probes = build_probes(tokenizer, examples, truncation_of(cfg), report=cuts)
    report_cuts("probes", cuts)
    return evaluate(model, probes, tokenizer.eos_token_id, cfg.batch_tokens, progress=True)
