"""A command's inputs, opened once: its data, its probes, the model and tokenizer and the
truncation, all from one config (`run`, `run --backend trl`, `influence`, `predict`).

Every input is read and checked before the model loads (a bad file or flag costs no model load),
each load reported on stderr as it happens (`tracking.report_load`); the chat template that
renders conversational records is resolved once, for the data and the probes alike.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

import torch

from common.errors import UserError
from llm_validation.core.logprobs import Truncation
from llm_validation.sources.data import PREFERENCE_FIELDS, load_examples
from llm_validation.sources.examples import Example
from llm_validation.sources.models import chat_template, load_model
from llm_validation.training.tracking import hold_out, report_load, select_probes, truncation_of


@dataclass(frozen=True)
class Inputs:
    """examples: the command's data (training pairs, or the examples it measures);
    probes: the probe examples a run tracks (`--probes`, else its data, or under `--hold-out N`
    its last N, which then leave `examples`; cut by `--probe-offset` and `--probe-limit`);
    loads: what each load kept and skipped ({"data": …, "probes": …, "held_out": …}, for
    summary.json's `inputs`)."""

    examples: list[Example]
    probes: list[Example]
    model: torch.nn.Module
    tokenizer: object
    truncation: Truncation
    loads: dict


def open_inputs(
    cfg,
    *,
    required: tuple[str, ...] = PREFERENCE_FIELDS,
    limit: int | None = None,
    device: torch.device | str = "cpu",
    check: Callable[[list[Example]], None] | None = None,
    say: bool = True,
) -> Inputs:
    """Load `cfg.data` (every example with the `required` fields; the first `limit`, default
    `cfg.limit`, in the seeded order of `cfg.seed`), then `cfg.probes` where the config has one
    (seed `cfg.seed` + 1), then `check(examples)`, then the model on `device`. `say=False` (a
    torchrun rank but the first) records the loads without reporting them."""
    template = chat_template(cfg.model)
    examples, report = load_examples(
        cfg.data,
        required=required,
        template=template,
        strict=cfg.strict,
        limit=cfg.limit if limit is None else limit,
        seed=cfg.seed,
    )
    loads = {"data": report_load("data", report) if say else report.to_json()}
    probes = examples
    if held := getattr(cfg, "hold_out", 0):
        if getattr(cfg, "probes", None):
            raise UserError("--hold-out and --probes both choose the probes: give one of them")
        split = hold_out(examples, held)
        examples, probes = split.training, split.probes
        loads["held_out"] = split.to_json()
        if say:
            print(split.line(), file=sys.stderr)
    elif getattr(cfg, "probes", None):
        probes, probe_report = load_examples(
            cfg.probes, template=template, required=(), strict=cfg.strict, seed=cfg.seed + 1
        )
        loads["probes"] = report_load("probes", probe_report) if say else probe_report.to_json()
    probes = select_probes(
        probes, getattr(cfg, "probe_offset", 0), getattr(cfg, "probe_limit", None)
    )
    if check is not None:
        check(examples)
    model, tokenizer = load_model(cfg.model, seed=cfg.seed, device=device)  # inputs checked first
    return Inputs(examples, probes, model, tokenizer, truncation_of(cfg), loads)
