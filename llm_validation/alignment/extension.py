"""`python -m llm_validation align`: the paper's extension-vs-baseline comparison, judged.

Paper (Ren & Sutherland 2025, Sec. 4.3): SFT on both y⁺ and y⁻ before DPO ("extension") beats
SFT on y⁺ before DPO ("baseline") in pairwise win rate judged by an LLM on held-out HH prompts.
Here, on the built-in synthetic task, judged by its ground-truth reward (`--judge synthetic`):

    for w in neg_weights, for seed in seeds:
        baseline  = run sft-dpo     (SFT on y⁺ for sft_steps, then DPO for steps)    --save-model
        extension = run extend-dpo  (SFT on y⁺ and y⁻ for sft_steps, then DPO)       --save-model
        (same batch size and steps per stage: the same examples seen in each stage; DPO's
         y⁻ term weighted by w, `losses.dpo`; w = 1 is DPO)
        generate `eval_prompts` held-out synthetic prompts from each (prompt_seed ≠ training seeds)
        winrate extension (A) over baseline (B), both orders
    plus, per seed, the SFT-only model (SFT on y⁺ for sft_steps): the same init, batches and
    optimiser as the baseline's SFT stage, so it is exactly the baseline's state before DPO.

Reported per arm: mean ground-truth reward r̄ of its responses, the exact-answer rate (r = 1),
and `generate`'s diversity measures; per w: the win rate pooled over seeds (Wilson over all
seed × prompt verdicts: the interval covers prompt noise, the per-seed spread shows training
noise). Everything lands in `out/` (one folder per run; rerunning skips what is done) with
out/summary.json and out/tables.md.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

from common.errors import UserError
from common.runs import VOLATILE, claim_run_dir, write_json
from llm_validation.alignment import generate, winrate
from llm_validation.config import AlignConfig, GenerateConfig, RunConfig, WinrateConfig
from llm_validation.core.winrate_stats import tally

ARMS = {"baseline": "sft-dpo", "extension": "extend-dpo"}


def check(cfg: AlignConfig) -> None:
    """Every flag checked before a model loads."""
    try:
        seeds, weights = cfg.seed_list(), cfg.weight_list()
    except ValueError:
        raise UserError(
            "--seeds must be integers and --neg-weights numbers, comma-separated"
        ) from None
    if not seeds or not weights or not all(math.isfinite(w) and w >= 0 for w in weights):
        raise UserError("--seeds and --neg-weights must be non-empty, weights finite and ≥ 0")
    if cfg.prompt_seed in seeds:
        raise UserError("--prompt-seed must differ from every training seed (held-out prompts)")
    if min(cfg.limit, cfg.sft_steps, cfg.steps, cfg.batch_size, cfg.eval_prompts) < 1:
        raise UserError(
            "--limit, --sft-steps, --steps, --batch-size and --eval-prompts must be ≥ 1"
        )
    generate.check(_generate_cfg(cfg, Path("."), Path("."), 0))


def _train(cfg: AlignConfig, method: str, w: float, seed: int, out: Path) -> Path:
    """One finetuning run with --save-model (skipped when its model folder exists)."""
    from llm_validation.training.train import main as train

    if not (out / "model" / "config.json").is_file():
        sft_only = method == "sft"
        steps = cfg.sft_steps if sft_only else cfg.steps
        train(
            RunConfig(
                method=method,
                model=cfg.model,
                data="synthetic",
                limit=cfg.limit,
                probe_limit=8,
                probe_types="chosen,rejected",
                steps=steps,
                sft_steps=None if sft_only else cfg.sft_steps,
                eval_every=cfg.sft_steps + cfg.steps,
                batch_size=cfg.batch_size,
                lr=cfg.lr,
                optimizer=cfg.optimizer,
                beta=cfg.beta,
                neg_weight=None if sft_only else w,
                max_length=cfg.max_length,
                max_prompt_length=min(256, cfg.max_length // 2),  # ≥ 1 response token left
                seed=seed,
                device=cfg.device,
                out=str(out),
                checkpoint=False,
                save_model=True,
                overwrite=True,  # a sub-run without its model was cut short: it starts anew
            )
        )
    return out / "model"


def _generate_cfg(cfg: AlignConfig, model: Path, out: Path, seed: int):
    return GenerateConfig(
        model=str(model),
        prompts="synthetic",
        out=str(out),
        limit=cfg.eval_prompts,
        prompt_seed=cfg.prompt_seed,
        max_new_tokens=cfg.max_new_tokens,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        batch_size=cfg.gen_batch_size,
        seed=seed,
        device=cfg.device,
        resume=True,  # `generate` continues a cut-short file of the same settings
    )


def _sample(cfg: AlignConfig, model: Path, out: Path, seed: int) -> dict:
    """Generate (resumable) → diversity plus the ground-truth reward of the responses."""
    from llm_validation.sources.synthetic import reward

    summary = generate.main(_generate_cfg(cfg, model, out, seed))
    rows = [json.loads(line) for line in (out / "generations.jsonl").read_text().splitlines()]
    r = [reward(row["prompt"], row["response"]) for row in rows]
    return {**summary, "mean_reward": float(np.mean(r)), "exact": float(np.mean(np.equal(r, 1)))}


def read_verdicts(path: Path) -> tuple[list[str], list[str], list[str]]:
    """(A-first winners, B-first winners, slot choices) from a winrate.csv."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    slots = [r[k] for r in rows for k in ("a_first_slot", "b_first_slot")]
    return [r["a_first_winner"] for r in rows], [r["b_first_winner"] for r in rows], slots


def _heldout_overlap(cfg: AlignConfig) -> int:
    """Held-out prompts that also occur among some seed's training prompts."""
    from llm_validation.sources.synthetic import generate as synthetic

    held = {ex.prompt for ex in synthetic(cfg.eval_prompts, cfg.prompt_seed)}
    train = {ex.prompt for s in cfg.seed_list() for ex in synthetic(cfg.limit, s)}
    return len(held & train)


def main(cfg: AlignConfig) -> dict:
    """Train, sample and judge every (w, seed, arm) → summary dict (also out/summary.json)."""
    check(cfg)
    config = {"kind": "align", **asdict(cfg)}
    with claim_run_dir(cfg.run_dir(), config, cfg.resume, cfg.overwrite) as out:
        return _align(cfg, out)


def _align(cfg: AlignConfig, out: Path) -> dict:
    seeds, weights = cfg.seed_list(), cfg.weight_list()
    jobs, done = len(seeds) * (1 + 2 * len(weights)), 0
    arms: dict[str, list[dict]] = {}
    for seed in seeds:
        done += 1
        print(f"align: [{done}/{jobs}] sft seed={seed}", file=sys.stderr)
        sft_dir = out / "sft" / f"seed{seed}"
        model = _train(cfg, "sft", 1.0, seed, sft_dir)
        arms.setdefault("sft", []).append(_sample(cfg, model, sft_dir / "gen", seed))
    winrates = {}
    for w in weights:
        pooled = ([], [], [])
        per_seed = []
        for seed in seeds:
            gens = {}
            for arm, method in ARMS.items():
                done += 1
                print(f"align: [{done}/{jobs}] {method} w={w:g} seed={seed}", file=sys.stderr)
                run = out / f"w{w:g}" / f"seed{seed}" / arm
                model = _train(cfg, method, w, seed, run)
                arms.setdefault(f"{arm} w={w:g}", []).append(_sample(cfg, model, run / "gen", seed))
                gens[arm] = run / "gen" / "generations.jsonl"
            judged = out / f"w{w:g}" / f"seed{seed}" / "winrate"
            summary = winrate.main(
                WinrateConfig(
                    a=str(gens["extension"]),
                    b=str(gens["baseline"]),
                    judge="synthetic",
                    out=str(judged),
                    resume=True,  # a rerun (--resume) reuses the judgments of the same texts
                )
            )
            per_seed.append(summary["win_rate"])
            for pool, values in zip(pooled, read_verdicts(judged / "winrate.csv"), strict=True):
                pool.extend(values)
        result = asdict(tally(*pooled))
        winrates[f"{w:g}"] = {**result, "per_seed": per_seed}
    summary = {
        "config": {k: v for k, v in asdict(cfg).items() if k not in VOLATILE},
        "heldout_overlap": _heldout_overlap(cfg),
        "arms": {name: aggregate(rows) for name, rows in arms.items()},
        "winrate_extension_over_baseline": winrates,
    }
    write_json(out / "summary.json", summary)
    (out / "tables.md").write_text(tables(summary))
    return summary


MEASURES = (
    "mean_reward",
    "exact",
    "distinct_1",
    "distinct_2",
    "repeat_fraction",
    "mean_token_entropy",
)


def aggregate(rows: list[dict]) -> dict:
    """Mean and sample standard deviation over seeds of every measure."""
    out = {}
    for key in MEASURES:
        values = np.array([r[key] for r in rows], dtype=float)
        out[key] = float(values.mean())
        out[f"{key}_sd"] = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return out


def tables(summary: dict) -> str:
    """Markdown: per-arm measures (mean ± sd over seeds) and the win rates per w."""
    lines = [
        "| model | r̄ | exact | distinct-1 | distinct-2 | repeat 3-gram | H̄ (nats) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, m in summary["arms"].items():
        cells = [f"{m[k]:.3f} ± {m[k + '_sd']:.3f}" for k in MEASURES]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| w | win rate, extension over baseline [95% Wilson] | n | W / T / L | per seed |",
        "|---|---|---|---|---|",
    ]
    for w, r in summary["winrate_extension_over_baseline"].items():
        seeds = ", ".join(f"{p:.3f}" for p in r["per_seed"])
        lines.append(
            f"| {w} | {r['win_rate']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}] | "
            f"{r['n']} | {r['wins']} / {r['ties']} / {r['losses']} | {seeds} |"
        )
    return "\n".join(lines) + "\n"
