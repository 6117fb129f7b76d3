"""`RunConfig`: the frozen configuration of one finetuning run; `run`'s CLI flags come from it.

Every field carries its help string in `metadata["help"]`; `cli.py` turns fields into flags
(`eval_every` → `--eval-every`) and `config.json` records the resolved values.
Loss hyper-parameters left at None take the registered loss's default (`losses.LOSSES`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path


def _f(default, help: str, **extra):
    return field(default=default, metadata={"help": help, **extra})


@dataclass(frozen=True)
class RunConfig:
    method: str = _f("dpo", "finetuning method (see `methods.METHODS`)")
    model: str = _f("smollm2", "embedded name (smollm2, tiny-neox, tiny-llama), a local HF folder "
                    "or a cached hub name")
    data: str = _f("synthetic", "preference JSONL (prompt, chosen, rejected) or `synthetic`")
    probes: str | None = _f(None, "probe JSONL to track (default: the training data)", type=str)
    limit: int | None = _f(None, "use only the first N valid training examples", type=int)
    probe_limit: int | None = _f(None, "track only the first N probe examples", type=int)
    probe_types: str | None = _f(None, "comma-separated probe types to track (default: all)", type=str)
    strict: bool = _f(False, "stop at the first malformed line instead of skipping it")
    steps: int = _f(20, "optimiser steps (for extend-dpo: the DPO phase)")
    sft_steps: int | None = _f(None, "extend-dpo: SFT steps on y⁺ and y⁻ before DPO (default: "
                               "--steps)", type=int)
    eval_every: int = _f(5, "evaluate probes every K optimiser steps (and at steps 0 and last)")
    batch_size: int = _f(4, "examples (pairs) per optimiser step")
    micro_batch_size: int | None = _f(None, "examples per forward pass; gradients accumulate "
                                      "over batch_size/micro_batch_size passes", type=int)
    lr: float = _f(1e-5, "learning rate")
    optimizer: str = _f("rmsprop", "sgd (the theory), adamw, rmsprop (the paper's choice)")
    max_grad_norm: float = _f(1.0, "gradient clipping norm (0 disables)")
    beta: float | None = _f(None, "β of dpo/ipo/simpo/rpo", type=float)
    alpha: float | None = _f(None, "α of rpo's NLL term", type=float)
    gamma: float | None = _f(None, "γ, simpo's target margin", type=float)
    delta: float | None = _f(None, "δ, slic's hinge margin", type=float)
    lam: float | None = _f(None, "λ, slic's SFT weight", type=float)
    reference: str = _f("precomputed", "π_ref: `precomputed` log-probs or a frozen `copy` "
                        "(onpolicy-dpo always uses a copy)", choices=("precomputed", "copy"))
    reduction: str = _f("sum", "sequence log-prob fed to the losses: `sum` (paper) or token "
                        "`mean`", choices=("sum", "mean"))
    reward: str | None = _f(None, "onpolicy-dpo reward as module:function(prompt, response) -> "
                            "float (synthetic data: the ground truth)", type=str)
    max_new_tokens: int = _f(24, "onpolicy-dpo: tokens sampled per response")
    max_length: int = _f(512, "prompt + response tokens before truncation (paper: 512)")
    max_prompt_length: int = _f(256, "prompt tokens kept when truncating (paper: 256)")
    truncation_mode: str = _f("keep_end", "which end of a long prompt survives truncation "
                              "(paper, HH: keep_end)", choices=("keep_end", "keep_start"))
    batch_tokens: int = _f(4096, "padded tokens per scoring batch (length-bucketed)")
    precision: str = _f("auto", "fp32, bf16 (autocast) or auto (bf16 on capable cuda)",
                        choices=("auto", "fp32", "bf16"))
    device: str = _f("auto", "cuda, mps, cpu or auto")
    seed: int = _f(0, "seed for model init, data order and sampling")
    out: str | None = _f(None, "run folder (default: runs/<method>-<model>-<data>)", type=str)
    resume: bool = _f(False, "continue from the run folder's last checkpoint")
    save_arrays: bool = _f(False, "also write per-example statistics as arrays/step_*.npz")
    checkpoint: bool = _f(True, "save a checkpoint at every evaluation (needed by --resume)")

    def run_dir(self) -> Path:
        if self.out:
            return Path(self.out)
        data = Path(self.data).stem if self.data != "synthetic" else "synthetic"
        return Path("runs") / f"{self.method}-{Path(self.model).name}-{data}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def config_fields():
    """The dataclass fields of RunConfig (name, default, metadata), for building the CLI."""
    return fields(RunConfig)
