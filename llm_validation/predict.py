"""`python -m llm_validation predict`: K updates, each one real fp32 step of a fresh optimiser
from the same θ₀, against the first-order prediction of every probe's Δ log π (`first_order`),
scored with `agreement`; writes a CSV, a summary, the factors and a scatter plot."""

from __future__ import annotations

import csv
import json
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch

from llm_validation import entk
from llm_validation.agreement import error_slope, relative_error, summarize
from llm_validation.cli import add_shared_args
from llm_validation.data import PROBE_TYPES, load_examples
from llm_validation.directions import OPTIMISERS
from llm_validation.errors import UserError
from llm_validation.first_order import (
    actual_step,
    forward_backward_seconds,
    logps,
    predict_step,
    probe_factors,
    roundoff_floor,
    sequence_view,
)
from llm_validation.logprobs import Tokenized, Truncation, tokenize_example
from llm_validation.losses import LOSSES
from llm_validation.models import load_model
from llm_validation.runtime import pick_device, seed_everything

ADAMW_NOTE = (
    "adamw: a fresh AdamW's first step is Δθ = −η(g/(|g| + ε) + λθ) ≈ −η(sign(g) + λθ). The "
    "prediction uses that direction, so it is exact to first order in η, but P = 1/(|g| + ε) depends "
    "on the update's own gradient: no fixed kernel, effects of examples do not add, and every "
    "coordinate moves by ≈ η (‖Δθ‖ ≈ η√P), so the first-order regime needs a far smaller η than SGD."
)
SWEEP = (1 / 8, 1 / 4, 1 / 2, 1.0, 2.0, 4.0)  # --lr-sweep: multiples of --lr


@dataclass(frozen=True)
class PredictConfig:
    """`predict`: K updates, each one real fp32 step from the same θ₀, against the first-order
    prediction for every probe response of the update's prompt."""

    model: str = "tiny-neox"  # embedded name, local folder or cached hub name
    data: str = "synthetic"  # probe/preference JSONL or `synthetic`
    method: str = "sft"  # a loss of `losses.LOSSES`
    optimizer: str = "sgd"  # sgd, rmsprop or adamw (fresh state: its first step)
    lr: float = 1e-3  # η
    steps: int = 8  # K updates (examples), each one step from θ₀
    limit: int | None = None  # the shared --limit: at most this many examples (caps K)
    lr_sweep: bool = False  # also step with η × SWEEP and fit the error's slope in η
    probe_types: str | None = None  # comma-separated probe types (default: all present)
    beta: float | None = None  # β of dpo-like losses (default: the loss's)
    factors: str = "unembed"  # kernel subset of the factor report: unembed, all, last:K, none
    kernel_probes: int = 2  # Rademacher vectors per kernel summary (subsets other than unembed)
    max_length: int = 512  # prompt + response tokens (paper: 512)
    max_prompt_length: int = 256  # prompt tokens kept when truncating (paper: 256)
    strict: bool = False  # stop at the first malformed line
    seed: int = 0  # model init (tiny models) and kernel probes
    device: str = "auto"  # cuda, mps, cpu or auto (cuda if present); the model is fp32 everywhere
    out: str | None = None  # output folder (default runs/predict-<method>-<optimizer>-<model>)
    json: bool = False  # print one JSON object instead of a table

    def run_dir(self) -> Path:
        if self.out:
            return Path(self.out)
        data = "synthetic" if self.data == "synthetic" else Path(self.data).stem
        name = f"predict-{self.method}-{self.optimizer}-{Path(self.model).name}-{data}"
        return Path("runs") / name


def _chi(item: Tokenized, model: torch.nn.Module) -> entk.Chi:
    return entk.Chi.from_ids(item.ids, item.prompt_len, model.device)


def run_update(model, tokenizer, example, cfg: PredictConfig, lrs, truncation) -> tuple[list, dict]:
    """One update χ_u: predicted and actual Δ for every probe and η → (rows, timing + factors)."""
    pad = tokenizer.eos_token_id
    types = cfg.probe_types.split(",") if cfg.probe_types else PROBE_TYPES
    wanted = {t: example.responses[t] for t in types if t in example.responses}
    wanted.update({r: example.responses[r] for r in ("chosen", "rejected")})
    items = tokenize_example(tokenizer, example.prompt, wanted, truncation)
    hyper = {} if cfg.beta is None else {"beta": cfg.beta}
    started = time.perf_counter()
    pred = predict_step(model, items, pad, cfg.method, cfg.optimizer, hyper)
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
    cols = {"mean_norm_A": float(np.mean(f["norm_A"]))}
    for r, t in f["terms"].items():
        cols[f"coef_{r}"] = t["coef"]
        cols[f"mean_norm_G_{r}"] = float(np.mean(t["norm_G"]))
        cols[f"mean_trace_K_{r}"] = float(np.mean(t["trace"]))
        cols[f"mean_norm_K_{r}"] = float(np.mean(t["norm"]))
    return cols


def main(cfg: PredictConfig) -> dict:
    """Run `predict`; write config.json, predictions.csv, summary.json, factors.json, scatter.png
    under `cfg.run_dir()` and return the summary."""
    if cfg.optimizer not in OPTIMISERS:
        raise UserError(f"unknown optimizer {cfg.optimizer!r}; choose from {', '.join(OPTIMISERS)}")
    if cfg.method not in LOSSES:
        raise UserError(f"unknown method {cfg.method!r}; choose from {', '.join(LOSSES)}")
    seed_everything(cfg.seed)
    device = pick_device(cfg.device)
    model, tokenizer = load_model(cfg.model, seed=cfg.seed, device=device)  # fp32, eager
    count = cfg.steps if cfg.limit is None else min(cfg.steps, cfg.limit)
    examples, _ = load_examples(cfg.data, strict=cfg.strict, limit=count, seed=cfg.seed)
    truncation = Truncation(cfg.max_length, cfg.max_prompt_length)
    lrs = tuple(cfg.lr * f for f in SWEEP) if cfg.lr_sweep else (cfg.lr,)
    rows, infos = [], []
    for u, example in enumerate(examples[:count]):
        update_rows, info = run_update(model, tokenizer, example, cfg, lrs, truncation)
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
    summary = _summary(rows, infos, cfg, lrs)
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
                relative_error(*(np.array([r[k] for r in sel]) for k in ("predicted", "actual")))
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
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "factors.json").write_text(json.dumps({"update": 0, "probes": factors}))
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with (out / "predictions.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    plot(rows, summary, cfg).savefig(out / "scatter.png", dpi=120, bbox_inches="tight")
    return out


def plot(rows: list[dict], summary: dict, cfg: PredictConfig):
    """Predicted vs actual Δ log π at η (one colour per probe type, the line y = x), and with
    `--lr-sweep` the relative error against η beside a slope-1 guide."""
    import matplotlib
    import matplotlib.ticker
    from matplotlib.figure import Figure

    sweep = "lr_sweep" in summary
    fig = Figure(figsize=(10 if sweep else 5.5, 4.5), layout="constrained")
    ax = fig.add_subplot(1, 2 if sweep else 1, 1)
    base = [r for r in rows if r["lr"] == cfg.lr]
    kinds = list(dict.fromkeys(r["probe_type"] for r in base))
    colors = matplotlib.colormaps["tab20"].colors  # 13 probe types: more than the default 10
    for kind, color in zip(kinds, colors):
        sel = [r for r in base if r["probe_type"] == kind]
        xy = [r["predicted"] for r in sel], [r["actual"] for r in sel]
        ax.scatter(*xy, s=14, color=color, label=kind)
    lim = max(abs(r[k]) for r in base for k in ("predicted", "actual"))
    ax.plot([-lim, lim], [-lim, lim], color="black", lw=0.8)
    ax.set_xlabel("predicted Δ log π (first order)")
    ax.set_ylabel("actual Δ log π (one step)")
    ax.set_title(f"{cfg.method}/{cfg.optimizer}, η={cfg.lr:g}: r={summary['pearson_r']:.4f}")
    ax.legend(fontsize=6, ncol=2)
    if sweep:
        ax2 = fig.add_subplot(1, 2, 2)
        lrs, errs = summary["lr_sweep"]["lr"], summary["lr_sweep"]["relative_error"]
        ax2.loglog(lrs, errs, "o-", label="relative error")
        ax2.loglog(lrs, [errs[-1] * lr / lrs[-1] for lr in lrs], "k--", lw=0.8, label="∝ η")
        ax2.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax2.set_xlabel("η")
        ax2.set_ylabel("‖pred − actual‖ / ‖actual‖")
        ax2.legend()
    return fig


def register(subparsers) -> None:
    """`python -m llm_validation predict`: flags from `PredictConfig` (see `cli.py`)."""
    parser = subparsers.add_parser(
        "predict", help="first-order Δ log π (eNTK) against real optimiser steps"
    )
    add_shared_args(parser, probes=False, model_default=PredictConfig.model)
    parser.add_argument("--method", default="sft", choices=tuple(LOSSES), help="the update's loss")
    parser.add_argument(
        "--optimizer",
        default="sgd",
        choices=tuple(OPTIMISERS),
        help="fresh optimiser: its first step (adamw's is ≈ −η sign(g))",
    )
    parser.add_argument("--lr", type=float, default=1e-3, help="learning rate η")
    parser.add_argument(
        "--steps",
        type=int,
        default=8,
        help="K updates (the first K examples), each one step from the same θ₀",
    )
    parser.add_argument(
        "--lr-sweep",
        action="store_true",
        help="also step with η × (1/8 … 4) and report the error's slope in η",
    )
    parser.add_argument("--probe-types", default=None, help="comma-separated probe types")
    parser.add_argument("--beta", type=float, default=None, help="β of dpo-like losses")
    parser.add_argument(
        "--factors",
        default="unembed",
        help="kernel subset for the factor report: unembed (closed form), all, "
        "last:K (Hutchinson estimates) or none",
    )
    parser.add_argument(
        "--kernel-probes",
        type=int,
        default=2,
        help="Rademacher vectors per kernel summary (subsets other than unembed)",
    )
    parser.add_argument("--device", default="auto", help="cuda, mps, cpu or auto (cuda if present)")
    parser.add_argument("--max-length", type=int, default=512, help="paper: 512")
    parser.add_argument("--max-prompt-length", type=int, default=256, help="paper: 256")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object (pearson_r, sign_agreement, relative_error, …)",
    )
    parser.set_defaults(handler=_run)


def _run(args) -> int:
    names = {f.name for f in fields(PredictConfig)}
    cfg = PredictConfig(**{k: v for k, v in vars(args).items() if k in names})
    summary = main(cfg)
    if cfg.json:
        print(json.dumps({k: v for k, v in summary.items()}))
        return 0
    print(
        f"{'probe type':<20} {'n':>4} {'mean pred':>10} {'mean act':>10} {'r':>8} {'sign':>6} "
        f"{'rel.err':>8}"
    )
    for kind, s in {**summary["per_type"], "all": summary}.items():
        print(
            f"{kind:<20} {s['n']:>4} {s['mean_predicted']:>+10.3e} {s['mean_actual']:>+10.3e} "
            f"{s['pearson_r']:>8.4f} {s['sign_agreement']:>6.3f} {s['relative_error']:>8.4f}"
        )
    print(
        f"noise floor {summary['noise_floor']:.2e}; sign agreement above it "
        f"{summary['sign_agreement_above_floor']:.3f}; cost per probe "
        f"{summary['cost_per_probe_vs_forward_backward']:.2f}× one forward+backward"
    )
    if "lr_sweep" in summary:
        sweep = summary["lr_sweep"]
        for lr, err in zip(sweep["lr"], sweep["relative_error"]):
            print(f"η = {lr:.3g}: relative error {err:.4f}")
        print(
            f"slope of log error vs log η: {sweep['slope_log_error_vs_log_lr']:.2f} (between "
            f"neighbours: {', '.join(f'{x:.2f}' for x in sweep['local_slopes'])})"
        )
    if cfg.optimizer == "adamw":
        print(ADAMW_NOTE)
    print(f"wrote {cfg.run_dir()}/")
    return 0
