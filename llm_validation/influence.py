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
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch

from llm_validation.cli import add_shared_args
from llm_validation.data import PROBE_TYPES, load_examples
from llm_validation.errors import UserError
from llm_validation.first_order import logp_and_grad, logps, loss_coefficients
from llm_validation.logprobs import Truncation, tokenize_example
from llm_validation.losses import LOSSES, get_loss
from llm_validation.models import load_model
from llm_validation.runtime import pick_device, seed_everything


def row_terms(method: str, train_types: tuple[str, ...]) -> tuple[str, ...]:
    """Rows: for a pairwise loss its two terms (y⁺ = chosen, y⁻ = rejected); for a single-response
    loss (SFT) every response type trained on."""
    return ("chosen", "rejected") if get_loss(method).pairwise else train_types


def example_coefficients(model, items, pad_id: int, method: str, rows, hyper) -> dict[str, float]:
    """c_r = ∂L/∂ log π(y_r) per row: the loss's own for a pairwise loss (at π_ref = π_θ₀), else
    the single-response loss applied to y_r (SFT: −1)."""
    logp = dict(zip(rows, logps(model, [items[r] for r in rows], pad_id)))
    lengths = {r: items[r].response_len for r in rows}
    if get_loss(method).pairwise:
        return loss_coefficients(method, logp, logp, lengths, hyper)[1]
    single = lambda r: loss_coefficients(
        method, {"chosen": logp[r]}, {"chosen": logp[r]}, {"chosen": lengths[r]}, hyper
    )[1]["chosen"]
    return {r: single(r) for r in rows}


def influence_matrices(
    model,
    examples_items: list[dict],
    pad_id: int,
    method: str,
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
        example_coefficients(model, it, pad_id, method, rows, hyper or {}) for it in examples_items
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


@dataclass(frozen=True)
class InfluenceConfig:
    """`influence`: the first-order influence of one step on each of N examples."""

    model: str = "tiny-neox"  # embedded name, local folder or cached hub name
    data: str = "synthetic"  # probe JSONL (the paper's format) or `synthetic`
    method: str = "sft"  # a loss of `losses.LOSSES`
    train_types: str = "chosen,rejected"  # SFT-like losses: response types trained on (rows)
    lr: float = 1e-3  # η, a scale
    limit: int = 8  # N examples
    beta: float | None = None  # β of dpo-like losses (default: the loss's)
    max_length: int = 512  # paper: 512
    max_prompt_length: int = 256  # paper: 256
    strict: bool = False  # stop at the first malformed line
    seed: int = 0  # model init (tiny models)
    device: str = "auto"  # cuda, mps, cpu or auto (cuda if present)
    out: str | None = None  # output folder (default runs/influence-<method>-<model>-<data>)

    def run_dir(self) -> Path:
        if self.out:
            return Path(self.out)
        data = "synthetic" if self.data == "synthetic" else Path(self.data).stem
        return Path("runs") / f"influence-{self.method}-{Path(self.model).name}-{data}"


def main(cfg: InfluenceConfig) -> dict:
    """Compute I[r, c]; write config.json, influence.csv and influence.png; return the matrices."""
    if cfg.method not in LOSSES:
        raise UserError(f"unknown method {cfg.method!r}; choose from {', '.join(LOSSES)}")
    seed_everything(cfg.seed)
    model, tokenizer = load_model(cfg.model, seed=cfg.seed, device=pick_device(cfg.device))
    examples, _ = load_examples(cfg.data, strict=cfg.strict, limit=cfg.limit, seed=cfg.seed)
    rows = row_terms(cfg.method, tuple(cfg.train_types.split(",")))
    missing = [r for r in rows if any(r not in ex.responses for ex in examples)]
    if missing:
        raise UserError(f"rows {missing} are not a response of every example")
    truncation = Truncation(cfg.max_length, cfg.max_prompt_length)
    items = [tokenize_example(tokenizer, ex.prompt, ex.responses, truncation) for ex in examples]
    columns = tuple(t for t in PROBE_TYPES if any(t in it for it in items))
    hyper = {} if cfg.beta is None else {"beta": cfg.beta}
    mats = influence_matrices(
        model, items, tokenizer.eos_token_id, cfg.method, rows, columns, cfg.lr, hyper
    )
    out = cfg.run_dir()
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
    with (out / "influence.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["train_type", "probe_type", "same_prompt", "other_prompts", "total"])
        for i, r in enumerate(rows):
            for j, c in enumerate(columns):
                writer.writerow([r, c, *(float(mats[k][i, j]) for k in ("same", "other", "total"))])
    plot(mats, rows, columns, cfg).savefig(out / "influence.png", dpi=120, bbox_inches="tight")
    return {"rows": rows, "columns": columns, **{k: v.tolist() for k, v in mats.items()}}


def plot(mats: dict[str, np.ndarray], rows, columns, cfg: InfluenceConfig):
    """Three heat maps (same prompt, other prompts, total), a diverging scale centred on 0."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(15, 1.2 + 0.45 * len(rows)))
    titles = {"same": "same prompt (o = u)", "other": "other prompts (o ≠ u)", "total": "total"}
    for k, (key, title) in enumerate(titles.items()):
        ax = fig.add_subplot(1, 3, k + 1)
        lim = float(np.abs(mats[key]).max()) or 1.0
        image = ax.imshow(mats[key], cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto")
        ax.set_xticks(range(len(columns)), columns, rotation=70, fontsize=7)
        ax.set_yticks(range(len(rows)), [f"train {r}" for r in rows], fontsize=7)
        ax.set_title(f"{title}", fontsize=9)
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.suptitle(
        f"first-order Δ log π (η = {cfg.lr:g}) from one {cfg.method} step per example, "
        f"N = {cfg.limit}: rows trained on, columns observed",
        fontsize=9,
    )
    return fig


def register(subparsers) -> None:
    """`python -m llm_validation influence`: flags from `InfluenceConfig` (see `cli.py`)."""
    parser = subparsers.add_parser(
        "influence", help="influence of training on each response type over every probe type (eNTK)"
    )
    add_shared_args(parser, probes=False, model_default=InfluenceConfig.model)
    parser.set_defaults(limit=InfluenceConfig.limit)
    parser.add_argument("--method", default="sft", choices=tuple(LOSSES), help="the update's loss")
    parser.add_argument(
        "--train-types",
        default="chosen,rejected",
        help="single-response losses: comma-separated response types trained on",
    )
    parser.add_argument("--lr", type=float, default=1e-3, help="learning rate η (a scale)")
    parser.add_argument("--beta", type=float, default=None, help="β of dpo-like losses")
    parser.add_argument("--device", default="auto", help="cuda, mps, cpu or auto (cuda if present)")
    parser.add_argument("--max-length", type=int, default=512, help="paper: 512")
    parser.add_argument("--max-prompt-length", type=int, default=256, help="paper: 256")
    parser.set_defaults(handler=_run)


def _run(args) -> int:
    names = {f.name for f in fields(InfluenceConfig)}
    cfg = InfluenceConfig(**{k: v for k, v in vars(args).items() if k in names})
    result = main(cfg)
    width = max(len(c) for c in result["columns"])
    print(f"total influence I[r, c] (first order, η = {cfg.lr:g}); rows trained on:")
    for i, r in enumerate(result["rows"]):
        print(f"  train {r}")
        for j, c in enumerate(result["columns"]):
            print(f"    {c:<{width}} {result['total'][i][j]:+.4e}")
    print(f"wrote {cfg.run_dir()}/")
    return 0
