"""Influence heat map: how training on each response type moves every observed response type.

For a loss of the project, an update on example u has gradient Σ_r c_r ∇θ log π(y_r^u|x_u)
(`first_order.loss_coefficients`). Its first-order effect on probe c of example o is, by Eq. 5,

    −η c_r ⟨∇θ log π(y_c^o|x_o), ∇θ log π(y_r^u|x_u)⟩
        = −η c_r Σ_{m,l} (e_{y_m} − π_m)ᵀ K(χ_o, χ_u)_{m,l} (e_{y_l} − π_l),

an eNTK product (the sequence-level kernel, a gradient inner product). The influence of row r
(a response type trained on, or one term of a pairwise loss) on column c (an observed probe type)
accumulates this over one step on every example u, averaged over the probe examples o:

    I[r, c] = −(η/N) Σ_o Σ_u c_r^u ⟨∇ log π(y_c^o|x_o), ∇ log π(y_r^u|x_u)⟩           (N examples)

split into the same prompt (o = u, the paper's probes) and other prompts (o ≠ u). All at θ₀:
first order, no trajectory. Cost: N·(R + C) backwards, memory 2R + 1 gradient vectors.
"""

from __future__ import annotations

import csv
from dataclasses import asdict

import numpy as np
import torch

from common.errors import UserError
from common.probes import PROBE_TYPES
from common.runs import INFLUENCE, claim_run_dir
from llm_validation.config import InfluenceConfig
from llm_validation.core.first_order import logp_and_grad, logps, loss_coefficients
from llm_validation.core.logprobs import CutReport, tokenize_example
from llm_validation.core.losses import LOSSES, get_loss
from llm_validation.sources.examples import Example
from llm_validation.training.inputs import open_inputs
from llm_validation.training.runtime import pick_device, seed_everything
from llm_validation.training.tracking import report_cuts


def row_terms(loss: str, train_types: tuple[str, ...]) -> tuple[str, ...]:
    """Rows: for a pairwise loss its two terms (y⁺ = chosen, y⁻ = rejected); for a single-response
    loss (SFT) every response type trained on."""
    return ("chosen", "rejected") if get_loss(loss).pairwise else train_types


def example_coefficients(model, items, pad_id: int, loss: str, rows, hyper) -> dict[str, float]:
    """c_r = ∂L/∂ log π(y_r) per row: the loss's own for a pairwise loss (at π_ref = π_θ₀), else
    the single-response loss applied to y_r (SFT: −1)."""
    logp = dict(zip(rows, logps(model, [items[r] for r in rows], pad_id)))
    lengths = {r: items[r].response_len for r in rows}
    if get_loss(loss).pairwise:
        return loss_coefficients(loss, logp, logp, lengths, hyper)[1]
    return {r: loss_coefficients(loss, logp, logp, lengths, hyper, trained=r)[1][r] for r in rows}


def influence_matrices(
    model,
    examples_items: list[dict],
    pad_id: int,
    loss: str,
    rows: tuple[str, ...],
    columns: tuple[str, ...],
    lr: float,
    hyper: dict | None = None,
) -> dict[str, np.ndarray]:
    """I[r, c] split into `same` (o = u), `other` (o ≠ u) and `total`, each Shape: (R, C).

    examples_items: per example {response type: Tokenized}, every row type present. Two passes:
    S_r = Σ_u c_r^u ∇ log π(y_r^u), then each probe's gradient against S_r and against its own
    example's row gradients. Column c is averaged over the examples that have it.
    """
    coefs = [
        example_coefficients(model, it, pad_id, loss, rows, hyper or {}) for it in examples_items
    ]
    sums: dict[str, torch.Tensor] = {}
    for items, coef in zip(examples_items, coefs):
        for r in rows:
            g = coef[r] * logp_and_grad(model, items[r], pad_id)[1]
            sums[r] = sums[r] + g if r in sums else g
    total, same = np.zeros((len(rows), len(columns))), np.zeros((len(rows), len(columns)))
    count = np.zeros(len(columns))
    for items, coef in zip(examples_items, coefs):
        raw = {r: logp_and_grad(model, items[r], pad_id)[1] for r in rows}
        for j, c in enumerate(columns):
            if c not in items:
                continue
            count[j] += 1
            g_o = raw[c] if c in raw else logp_and_grad(model, items[c], pad_id)[1]
            for i, r in enumerate(rows):
                total[i, j] += float(g_o.double() @ sums[r].double())  # ⟨∇ log π(y_c^o), S_r⟩
                same[i, j] += coef[r] * float(g_o.double() @ raw[r].double())
    scale = -lr / np.maximum(count, 1)  # −η, averaged over the probe examples o
    return {"same": scale * same, "other": scale * (total - same), "total": scale * total}


def main(cfg: InfluenceConfig) -> dict:
    """Compute I[r, c]; write config.json and influence.csv; return the matrices (the CLI draws
    influence.png from the CSV)."""
    with claim_run_dir(
        cfg.run_dir(),
        {"kind": "influence", **asdict(cfg)},
        overwrite=cfg.overwrite,
        resumable=False,
    ):
        return _main(cfg)


def _main(cfg: InfluenceConfig) -> dict:
    if cfg.loss not in LOSSES:
        raise UserError(f"unknown loss {cfg.loss!r}; choose from {', '.join(LOSSES)}")
    seed_everything(cfg.seed)
    rows = row_terms(cfg.loss, tuple(cfg.train_types.split(",")))

    def check(examples: list[Example]) -> None:
        missing = [r for r in rows if any(r not in ex.responses for ex in examples)]
        if missing:
            raise UserError(f"rows {missing} are not a response of every example")

    opened = open_inputs(cfg, device=pick_device(cfg.device), check=check)
    examples, model, tokenizer = opened.examples, opened.model, opened.tokenizer
    truncation, cuts = opened.truncation, CutReport()
    items = [
        tokenize_example(tokenizer, ex.prompt, ex.responses, truncation, cuts) for ex in examples
    ]
    report_cuts("data", cuts)
    columns = tuple(t for t in PROBE_TYPES if any(t in it for it in items))
    hyper = {} if cfg.beta is None else {"beta": cfg.beta}
    mats = influence_matrices(
        model, items, tokenizer.eos_token_id, cfg.loss, rows, columns, cfg.lr, hyper
    )
    out = cfg.run_dir()
    with (out / INFLUENCE).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["train_type", "probe_type", "same_prompt", "other_prompts", "total"])
        for i, r in enumerate(rows):
            for j, c in enumerate(columns):
                writer.writerow([r, c, *(float(mats[k][i, j]) for k in ("same", "other", "total"))])
    return {"rows": rows, "columns": columns, **{k: v.tolist() for k, v in mats.items()}}
