"""`python -m benchmarks.tools.gpu_check`: a scaled run of the finetuning pipeline on one CUDA card.

Builds a ~25M-parameter Llama from its config on the card (nothing is downloaded), trains it
briefly with SFT on the synthetic task, then runs DPO from the SFT weights, both with probe
tracking, and prints the card's name, scoring and training throughput (tokens/s), step times,
and the batched-vs-naive log-prob gap on the card. Last, `predict` (first-order Δ log π against
real SGD steps) on tiny-neox at η = 1e-3 and on the SFT'd scaled model, on the card.
The project never needs a GPU: this is the one place that asks for one
(tests/llm/training/test_gpu_check.py is marked `gpu`).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from common.cliargs import add_config_args, config_from_args, option
from common.errors import OneLineParser, UserError, run_cli
from common.runs import METRICS, read_metrics
from llm_validation.config import PredictConfig, RunConfig
from llm_validation.core.logprobs import collate, naive_sequence_logp, score, sequence_logps
from llm_validation.measure.predict import main as predict
from llm_validation.sources.models import load_model
from llm_validation.sources.synthetic import generate
from llm_validation.sources.tiny import build_tokenizer
from llm_validation.training.tracking import build_probes
from llm_validation.training.train import main as train

SCALED = dict(
    hidden_size=512,
    num_hidden_layers=8,
    num_attention_heads=8,
    num_key_value_heads=4,
    intermediate_size=1376,
    max_position_embeddings=1024,
)


def build_scaled_model(folder: Path, seed: int = 0) -> Path:
    """Save a random-init scaled Llama plus the tiny BPE tokenizer as a local HF folder."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer()
    eos = tokenizer.eos_token_id
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        eos_token_id=eos,
        bos_token_id=eos,
        pad_token_id=eos,
        attn_implementation="sdpa",
        **SCALED,
    )
    torch.manual_seed(seed)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def throughput(model, items, pad_id: int, device: str, repeats: int = 5) -> tuple[float, float]:
    """(scoring tokens/s, training fwd+bwd tokens/s) on one padded batch, after a warm-up."""
    ids, attention, response = (t.to(device) for t in collate(items, pad_id))
    tokens = int(attention.sum())
    score(model, items, pad_id)
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        score(model, items, pad_id)
    _sync(device)
    scoring = tokens * repeats / (time.perf_counter() - start)
    start = time.perf_counter()
    for _ in range(repeats):
        sequence_logps(model, ids, attention, response).sum().backward()
    _sync(device)
    return scoring, tokens * repeats / (time.perf_counter() - start)


def timed_run(cfg: RunConfig) -> tuple[float, list[dict]]:
    start = time.perf_counter()
    out = train(cfg)
    return time.perf_counter() - start, read_metrics(out / METRICS)


def logp_at(rows, kind: str, step: int) -> float:
    return next(
        float(r["value"])
        for r in rows
        if r["probe_type"] == kind and r["metric"] == "logp" and int(r["step"]) == step
    )


@dataclass(frozen=True)
class GpuCheckConfig:
    steps: int = option(60, "optimiser steps per phase")
    batch_size: int = option(32, "pairs per step")
    device: str = option("cuda", "cuda (the check); cpu for a dry run")
    repeats: int = option(5, "timed batches per throughput")


def main(argv=None) -> int:
    parser = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    add_config_args(parser, GpuCheckConfig)
    return run_cli(PROG, lambda: check(config_from_args(GpuCheckConfig, parser.parse_args(argv))))


def check(args: GpuCheckConfig) -> int:
    device = args.device
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("no CUDA device")
    card = torch.cuda.get_device_name(0) if device.startswith("cuda") else "cpu (dry run)"
    print(f"card: {card}; torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = build_scaled_model(root / "scaled")
        model, tokenizer = load_model(str(folder), device=device)
        params = sum(p.numel() for p in model.parameters())
        probes = build_probes(tokenizer, generate(64, seed=9))
        naive = np.array([naive_sequence_logp(model, it) for it in probes.items[:64]])
        batched = score(model, probes.items[:64], tokenizer.eos_token_id)["logp"]
        print(
            f"model: {params / 1e6:.1f}M parameters; batched vs naive log-prob max |gap| "
            f"{np.abs(batched - naive).max():.2e}"
        )
        scoring, training = throughput(
            model, list(probes.items[:256]), tokenizer.eos_token_id, device, args.repeats
        )
        print(
            f"throughput: scoring {scoring:,.0f} tokens/s, training fwd+bwd {training:,.0f} "
            "tokens/s (fp32)"
        )
        del model
        common = dict(
            data="synthetic",
            limit=512,
            probe_limit=64,
            batch_size=args.batch_size,
            eval_every=max(args.steps // 3, 1),
            steps=args.steps,
            device=device,
            optimizer="adamw",
            seed=0,
        )
        seconds, rows = timed_run(
            RunConfig(method="sft", model=str(folder), lr=1e-3, out=str(root / "sft"), **common)
        )
        print(
            f"sft: {args.steps} steps in {seconds:.1f} s ({seconds / args.steps * 1e3:.0f} ms/step"
            f"); chosen {logp_at(rows, 'chosen', 0):.2f} → {logp_at(rows, 'chosen', args.steps):.2f}"
        )
        model, _ = load_model(str(folder), device=device)
        model.load_state_dict(
            torch.load(root / "sft" / "checkpoint.pt", weights_only=True)["model"]
        )
        model.save_pretrained(root / "sft-model")
        tokenizer.save_pretrained(root / "sft-model")
        seconds, rows = timed_run(
            RunConfig(
                method="dpo",
                model=str(root / "sft-model"),
                lr=1e-4,
                out=str(root / "dpo"),
                **common,
            )
        )
        moves = ", ".join(
            f"{k} {logp_at(rows, k, 0):.2f} → {logp_at(rows, k, args.steps):.2f}"
            for k in ("chosen", "rejected", "y_star")
        )
        print(
            f"dpo: {args.steps} steps in {seconds:.1f} s ({seconds / args.steps * 1e3:.0f} "
            f"ms/step); {moves}"
        )
        for model_name, lr in (("tiny-neox", 1e-3), (str(root / "sft-model"), 1e-4)):
            for method in ("sft", "dpo"):
                out = root / f"predict-{Path(model_name).name}-{method}"
                report_prediction(model_name, method, lr, device, out)
    return 0


def report_prediction(model: str, method: str, lr: float, device: str, out: Path) -> None:
    """`predict` (4 SGD updates, with the lr sweep) on the device: r, signs, error and cost."""
    cfg = PredictConfig(
        model=model, loss=method, lr=lr, updates=4, lr_sweep=True, device=device, out=str(out)
    )
    started = time.perf_counter()
    s = predict(cfg)
    print(
        f"predict {Path(model).name} {method} sgd η={lr:g}: r {s['pearson_r']:.5f}, sign "
        f"{s['sign_agreement']:.3f}, relative error {s['relative_error']:.4f} (slope in η "
        f"{s['lr_sweep']['slope_log_error_vs_log_lr']:.2f}), "
        f"{s['cost_per_probe_vs_forward_backward']:.2f}× fwd+bwd per probe, "
        f"{time.perf_counter() - started:.1f} s"
    )


PROG = "python -m benchmarks.tools.gpu_check"

if __name__ == "__main__":
    raise SystemExit(main())
