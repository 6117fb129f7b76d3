"""`python -m llm_validation predict`: K updates, each one real fp32 step of a fresh optimiser
from the same θ₀, against the first-order prediction of every probe's Δ log π (`first_order`),
scored with `agreement`; writes a CSV, a summary and the factors (the CLI draws the scatter)."""

from __future__ import annotations

import csv
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from common.errors import UserError
from common.probes import PROBE_TYPES
from common.runs import PREDICTIONS, SUMMARY, claim_run_dir, write_json
from llm_validation.config import PredictConfig
from llm_validation.core import entk
from llm_validation.core.agreement import error_slope, summarize
from llm_validation.core.directions import OPTIMISERS
from llm_validation.core.first_order import (
    actual_step,
    forward_backward_seconds,
    logps,
    predict_step,
    probe_factors,
    roundoff_floor,
    sequence_view,
)
from llm_validation.core.logprobs import CutReport, Tokenized, tokenize_example
from llm_validation.core.losses import LOSSES
from llm_validation.training.inputs import open_inputs
from llm_validation.training.runtime import pick_device, seed_everything
from llm_validation.training.tracking import report_cuts
from simulator import relative_error

ADAMW_NOTE = (
    "adamw: a fresh AdamW's first step is Δθ = −η(g/(|g| + ε) + λθ) ≈ −η(sign(g) + λθ). The "
    "prediction uses that direction, so it is exact to first order in η, but P = 1/(|g| + ε) depends "
    "on the update's own gradient: no fixed kernel, effects of examples do not add, and every "
    "coordinate moves by ≈ η (‖Δθ‖ ≈ η√P), so the first-order regime needs a far smaller η than SGD."
)
SWEEP = (1 / 8, 1 / 4, 1 / 2, 1.0, 2.0, 4.0)  # --lr-sweep: multiples of --lr


def _chi(item: Tokenized, model: torch.nn.Module) -> entk.Chi:
    return entk.Chi.from_ids(item.ids, item.prompt_len, model.device)


def run_update(model, tokenizer, example, cfg: PredictConfig, lrs, truncation, cuts=None):
    """One update χ_u: predicted and actual Δ for every probe and η → (rows, timing + factors);
    truncation cuts are added to `cuts`."""
    pad = tokenizer.eos_token_id
    types = cfg.probe_types.split(",") if cfg.probe_types else PROBE_TYPES
    wanted = {t: example.responses[t] for t in types if t in example.responses}
    wanted.update({r: example.responses[r] for r in ("chosen", "rejected")})
    items = tokenize_example(tokenizer, example.prompt, wanted, truncation, cuts)
    hyper = {} if cfg.beta is None else {"beta": cfg.beta}
    started = time.perf_counter()
    pred = predict_step(model, items, pad, cfg.loss, cfg.optimizer, hyper)
    seconds = time.perf_counter() - started
    seq = list(items.values())
    forward_backward = forward_backward_seconds(model, seq, pad)  # right after, same load
    before = logps(model, seq, pad)
    rows = []
    for lr in lrs:
        actual = actual_step(model, seq, pad, pred.grad, cfg.optimizer, lr, before)
        for kind, p, a in zip(pred.kinds, pred.per_lr, actual):
            rows.append({"probe_type": kind, "lr": lr, "predicted": lr * p, "actual": a})
    factors = {}
    if cfg.factors != "none":
        views = {kind: sequence_view(model, _chi(item, model)) for kind, item in items.items()}
        terms = {r: (views[r], c) for r, c in pred.coef.items()}
        for kind in items:
            f = probe_factors(model, views[kind], terms, cfg.factors, cfg.kernel_probes, cfg.seed)
            factors[kind] = f
            for row in rows:
                if row["probe_type"] == kind:
                    row.update(_factor_columns(f))
    info = {
        "predict_seconds": seconds,
        "forward_backward_seconds": forward_backward,
        "n_probes": len(seq),
        "floor": roundoff_floor(model, seq, pad, before),
        "loss": pred.loss,
        "coef": pred.coef,
        "factors": factors,
    }
    return rows, info


def _factor_columns(f: dict) -> dict[str, float]:
    """Scalar summaries of `probe_factors` for the CSV: means over positions and pairs."""
    cols = {"mean_norm_A": float(np.mean(f["a_frobenius"]))}
    for r, t in f["terms"].items():
        cols[f"coef_{r}"] = t["coef"]
        cols[f"mean_norm_G_{r}"] = float(np.mean(t["norm_G"]))
        cols[f"mean_trace_K_{r}"] = float(np.mean(t["trace"]))
        cols[f"mean_norm_K_{r}"] = float(np.mean(t["norm"]))
    return cols


def main(cfg: PredictConfig) -> dict:
    """Run `predict`; write config.json, predictions.csv, summary.json and factors.json under
    `cfg.run_dir()` and return the summary (the CLI draws scatter.png from them)."""
    with claim_run_dir(
        cfg.run_dir(), {"kind": "predict", **asdict(cfg)}, overwrite=cfg.overwrite, resumable=False
    ):
        return _main(cfg)


def _main(cfg: PredictConfig) -> dict:
    if cfg.optimizer not in OPTIMISERS:
        raise UserError(f"unknown optimizer {cfg.optimizer!r}; choose from {', '.join(OPTIMISERS)}")
    if cfg.loss not in LOSSES:
        raise UserError(f"unknown loss {cfg.loss!r}; choose from {', '.join(LOSSES)}")
    seed_everything(cfg.seed)
    device = pick_device(cfg.device)
    count = cfg.updates if cfg.limit is None else min(cfg.updates, cfg.limit)
    opened = open_inputs(cfg, limit=count, device=device)  # fp32
    examples, model, tokenizer = opened.examples, opened.model, opened.tokenizer
    inputs = dict(opened.loads)
    truncation, cuts = opened.truncation, CutReport()
    lrs = tuple(cfg.lr * f for f in SWEEP) if cfg.lr_sweep else (cfg.lr,)
    rows, infos = [], []
    for u, example in enumerate(examples[:count]):
        update_rows, info = run_update(model, tokenizer, example, cfg, lrs, truncation, cuts)
        rows += [{"update": u, **row} for row in update_rows]
        infos.append(info)
        base = [r for r in update_rows if r["lr"] == cfg.lr]
        print(
            f"update {u + 1}/{len(examples)}: {info['n_probes']} probes, Δ log π(chosen) "
            f"predicted {base[0]['predicted']:+.3e} actual {base[0]['actual']:+.3e}, "
            f"{info['predict_seconds']:.1f} s to predict",
            file=sys.stderr,
            flush=True,
        )
    inputs["truncation"] = report_cuts("data", cuts)
    summary = {**_summary(rows, infos, cfg, lrs), "inputs": inputs}
    _write(cfg, rows, summary, infos[0]["factors"])
    return summary


def _summary(rows, infos, cfg: PredictConfig, lrs) -> dict:
    floor = max(i["floor"] for i in infos)
    base = [r for r in rows if r["lr"] == cfg.lr]
    pred, actual = (np.array([r[k] for r in base]) for k in ("predicted", "actual"))
    kinds = np.array([r["probe_type"] for r in base])
    per_probe = [i["predict_seconds"] / i["n_probes"] for i in infos]
    ratio = [p / i["forward_backward_seconds"] for p, i in zip(per_probe, infos)]
    out = {
        **summarize(pred, actual, floor),
        "noise_floor": floor,
        "lr": cfg.lr,
        "updates": len(infos),
        "per_type": {
            k: summarize(pred[kinds == k], actual[kinds == k], floor) for k in dict.fromkeys(kinds)
        },
        "seconds_per_probe_prediction": float(np.median(per_probe)),
        "seconds_forward_backward": float(
            np.median([i["forward_backward_seconds"] for i in infos])
        ),
        "cost_per_probe_vs_forward_backward": float(np.median(ratio)),  # per update, then median
        "mean_abs_actual": float(np.mean(np.abs(actual))),
    }
    if cfg.optimizer == "adamw":
        out["note"] = ADAMW_NOTE
    if len(lrs) > 1:
        errors = []
        for lr in lrs:
            sel = [r for r in rows if r["lr"] == lr]
            errors.append(
                relative_error(*(np.array([r[k] for r in sel]) for k in ("actual", "predicted")))
            )
        local = np.diff(np.log(errors)) / np.diff(np.log(lrs))  # slope between neighbours
        out["lr_sweep"] = {
            "lr": list(lrs),
            "relative_error": errors,
            "slope_log_error_vs_log_lr": error_slope(np.array(lrs), np.array(errors)),
            "local_slopes": local.tolist(),
        }
    return out


def _write(cfg: PredictConfig, rows: list[dict], summary: dict, factors: dict) -> Path:
    out = cfg.run_dir()
    write_json(out / SUMMARY, summary)
    write_json(out / "factors.json", {"update": 0, "probes": factors})
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with (out / PREDICTIONS).open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return out
