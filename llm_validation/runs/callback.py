"""`LearningDynamicsCallback`: the project's probe tracking inside a transformers / trl trainer.

Add it to any `transformers.Trainer` (trl's SFTTrainer, DPOTrainer, CPOTrainer included):

    trainer = DPOTrainer(model=..., args=..., train_dataset=..., processing_class=tokenizer)
    LearningDynamicsCallback("probes.jsonl", out="runs/my-dpo", eval_every=10).attach(trainer)
    trainer.train()

At the start of training and every `eval_every` optimiser steps (and the last) it scores every
probe type and y* = Σ_l max_v log π(v | x, y⁺_<l) with `logprobs.score` on the trainer's current
model (no grad, eval mode, then back to the mode it was in), and

- appends the tidy rows of `tracking.summarize` (plus `train/loss`, the mean of the losses the
  trainer logged since the previous evaluation) to `<out>/metrics.csv`, flushed at once, so that
  `python -m figures --runs <out>` draws it like a native run; `config.json` holds the trainer's
  arguments (or the `config` given);
- puts `ld/<probe type>/logp` and the token diagnostics along y⁺ (`ld/chosen/<statistic>` for
  ‖A‖_F, ‖π − e_y‖, 1 − π(y), mass outside the argmax) into the trainer's next log, so its
  `report_to` integrations (TensorBoard, W&B, MLflow) receive them;
- reports "where did the mass go": with π̄_t = the mean of π_t(· | x, y⁺_<l) over all positions l
  of every probe's y⁺, the `top_k` tokens v with the largest gain π̄_t(v) − π̄_0(v), read off the
  scoring forward itself (`score(visit=...)`, no second pass);
- says once, as a log line and `summary.json`'s `squeezing` entry, when the squeezing signature
  appears: mean log π(y⁺|x) below its start while mean y* rises above its start (Sec. 4.2).

Under torchrun / accelerate launch the probes are sharded across ranks (item i on rank i mod W),
gathered, and written by the main process only; DDP-wrapped models are unwrapped for scoring.
An FSDP-wrapped model's forward is a collective, so under FSDP every rank scores every probe.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import TrainerCallback

from common.errors import UserError
from common.probes import PROBE_TYPES, Y_STAR
from common.runs import CONFIG, SUMMARY, TRAIN, RunLogs, write_json
from llm_validation.core.logprobs import (
    PAPER_TRUNCATION,
    TOKEN_METRICS,
    Truncation,
    at_least_fp32,
    score,
)
from llm_validation.runs.distributed import (
    all_sum,
    gather_rows,
    is_fsdp,
    is_main,
    shard,
    unwrap,
    world,
)
from llm_validation.runs.tracking import ProbeSet, build_probes, per_example, prompt_rows, summarize
from llm_validation.sources.data import load_examples, parse_lines
from llm_validation.sources.examples import Example

PREFIX = "ld"


def chat_template(tokenizer):
    """The tokenizer's `apply_chat_template`, or None when it has no chat template."""
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        return None
    return tokenizer.apply_chat_template


def probe_examples(probes, limit: int | None = None, template=None) -> list[Example]:
    """A probe/preference file (any format `load_examples` reads), or examples in memory
    (`Example`s or dicts with `prompt` and probe-type fields, validated as a file's lines are,
    strictly) → the first `limit` examples. `template` renders conversational records."""
    if isinstance(probes, (str, Path)):
        examples, report = load_examples(str(probes), required=(), limit=limit, template=template)
        print(f"probes: {report.summary()}", file=sys.stderr)
        return examples
    records = list(probes)[:limit]
    if all(isinstance(r, Example) for r in records) and records:
        return records
    if not all(isinstance(r, Mapping) for r in records) or not records:
        raise UserError("probes must be a file, or a non-empty list of Examples or of dicts")
    lines = (json.dumps(dict(r)) for r in records)
    return parse_lines(lines, "probes", required=(), strict=True, template=template)[0]


SQUEEZE_MARGIN = 1e-2  # nats of mean log-prob: smaller moves are float noise, not a trend


def squeezing(
    rows: Mapping[tuple[str, str], float],
    start: Mapping[tuple[str, str], float],
    margin: float = SQUEEZE_MARGIN,
) -> bool:
    """True when mean log π(y⁺|x) is more than `margin` below its start while mean y* is more
    than `margin` above its start (the squeezing signature of Sec. 4.2)."""
    chosen, star = ("chosen", "logp"), (Y_STAR, "logp")
    if chosen not in rows or star not in rows:
        return False
    return rows[chosen] < start[chosen] - margin and rows[star] > start[star] + margin


def top_gains(mean_pi: torch.Tensor, mean_pi_0: torch.Tensor, k: int) -> list[tuple[int, float]]:
    """[(token v, π̄_t(v) − π̄_0(v))] for the k largest gains, largest first."""
    gain = mean_pi - mean_pi_0  # (V,)
    values, tokens = gain.topk(min(k, gain.numel()))
    return [(int(v), float(g)) for v, g in zip(tokens, values)]


class _PositionMass:
    """Accumulates Σ_l π(· | x, y⁺_<l) over the y⁺ positions of the probes scored, Shape: (V,)."""

    def __init__(self, is_chosen: np.ndarray):
        self.is_chosen, self.total, self.count = torch.as_tensor(is_chosen), None, 0

    def __call__(self, index, seq, z):
        keep = self.is_chosen[torch.as_tensor(index)].to(seq.device)[seq]  # (n,)
        pi = torch.softmax(at_least_fp32(z[keep]), dim=-1).sum(0, dtype=torch.float64).cpu()  # (V,)
        self.total = pi if self.total is None else self.total + pi
        self.count += int(keep.sum())


# trl's config classes (and loss_type) → our method names; None where there is no counterpart
# (CPO's own sigmoid loss, DPOTrainer's hinge against a reference, …).
TRL_METHODS = {"SFTConfig": "sft", "OnlineDPOConfig": "onpolicy-dpo"}
TRL_LOSSES = {
    "DPOConfig": {"sigmoid": "dpo", "ipo": "ipo"},
    "CPOConfig": {"simpo": "simpo", "hinge": "slic"},  # reference-free, as ours
}


def method_of(args) -> str | None:
    """The method a trl trainer's config runs: SFTConfig → sft, OnlineDPOConfig → onpolicy-dpo,
    DPOConfig / CPOConfig by their (single) loss_type; None for anything else."""
    name = type(args).__name__
    if name in TRL_METHODS:
        return TRL_METHODS[name]
    loss = getattr(args, "loss_type", None)
    if isinstance(loss, list | tuple) and len(loss) == 1:
        loss = loss[0]
    return TRL_LOSSES.get(name, {}).get(loss) if isinstance(loss, str) else None


class LearningDynamicsCallback(TrainerCallback):
    """Score the paper's probes during a transformers / trl training run (see the module doc).

    probes: a probe or preference file (JSONL, a datasets folder, parquet, JSON; trl's standard
    or, given `tokenizer`, conversational format), or examples in memory (`probe_examples`);
    eval_every: optimiser steps between evaluations (also at step 0 and the last);
    probe_types: the probe types to track (default all present; y_star needs chosen);
    out: the run folder for metrics.csv, config.json, summary.json (default args.output_dir);
    truncation: the project's length limits (paper: 512 / 256, keep the prompt's end);
    tokenizer: default, the trainer's processing_class; config: what config.json records
    (default: the trainer's arguments); top_k: tokens in the "where did the mass go" report.
    """

    def __init__(
        self,
        probes,
        *,
        eval_every: int = 5,
        probe_types: Sequence[str] | None = None,
        out: str | Path | None = None,
        truncation: Truncation = PAPER_TRUNCATION,
        probe_limit: int | None = None,
        batch_tokens: int = 4096,
        tokenizer=None,
        config: Mapping | None = None,
        top_k: int = 5,
        progress: bool = True,
    ):
        if eval_every < 1:
            raise UserError("eval_every must be ≥ 1")
        unknown = set(probe_types or ()) - set(PROBE_TYPES) - {Y_STAR}
        if unknown:
            raise UserError(f"unknown probe types: {', '.join(sorted(unknown))}")
        self.examples = probe_examples(probes, probe_limit, chat_template(tokenizer))
        self.eval_every, self.truncation, self.batch_tokens = eval_every, truncation, batch_tokens
        self.probe_types = list(probe_types) if probe_types else None
        self.out, self.tokenizer, self.config = out, tokenizer, config
        self.top_k, self.progress = top_k, progress
        self.probes: ProbeSet | None = None
        self.start: dict[tuple[str, str], float] = {}
        self.mass_0: torch.Tensor | None = None
        self.squeezed_at: int | None = None
        self.pending_rows: list | None = None
        self.pending_logs: dict[str, float] = {}
        self.losses: list[float] = []
        self.history: list[dict] = []
        self.pending_prompts: list | None = None
        self.log: RunLogs | None = None
        self.last_step = -1
        self.step_offset = 0  # steps of earlier phases (extend-dpo: SFT, then DPO)

    def attach(self, trainer) -> LearningDynamicsCallback:
        """Put the callback first among `trainer`'s callbacks, so that the reporting
        integrations (which transformers lists before user callbacks) see its `ld/` values in the
        same log call (moved there if it was passed in `callbacks=`); returns self."""
        callbacks = trainer.callback_handler.callbacks
        callbacks[:] = [self, *(c for c in callbacks if c is not self)]
        return self

    # -- setup --------------------------------------------------------------------------------
    def _types(self) -> list[str] | None:
        if self.probe_types is None:
            return None
        return [*self.probe_types, "chosen"] if Y_STAR in self.probe_types else self.probe_types

    def bind(self, tokenizer) -> ProbeSet:
        """Tokenise the probes with `tokenizer` (the trainer's, at the start of training)."""
        self.tokenizer = tokenizer
        self.probes = build_probes(tokenizer, self.examples, self.truncation, self._types())
        return self.probes

    def _prepare(self, args, processing_class) -> None:
        tokenizer = self.tokenizer or getattr(processing_class, "tokenizer", processing_class)
        if tokenizer is None:
            raise UserError(
                "LearningDynamicsCallback needs a tokenizer: pass tokenizer= or give "
                "the trainer a processing_class"
            )
        self.bind(tokenizer)
        self.out = Path(self.out or args.output_dir)
        if is_main():
            self.out.mkdir(parents=True, exist_ok=True)
            config = dict(self.config) if self.config is not None else args.to_dict()
            config.setdefault("method", method_of(args))  # what `trends` reads
            write_json(self.out / CONFIG, config)
            self.log = RunLogs(self.out)

    # -- scoring ------------------------------------------------------------------------------
    @torch.no_grad()
    def measure(self, model) -> tuple[dict, torch.Tensor | None]:
        """Per-example statistics of every probe (`tracking.per_example`) and π̄ over the y⁺
        positions, Shape: (V,), on the model as it is; scored in eval mode, mode restored."""
        items = self.probes.items
        sharded = not is_fsdp(model)
        net = unwrap(model) if sharded else model
        mine = shard(len(items), sharded)
        mass = _PositionMass(np.array(self.probes.kind)[mine] == "chosen")
        was_training = net.training
        net.eval()
        try:
            scores = score(
                net,
                [items[i] for i in mine],
                self.tokenizer.eos_token_id,
                self.batch_tokens,
                progress=self.progress and is_main(),
                visit=mass,
            )
        finally:
            net.train(was_training)
        total, count = mass.total, torch.tensor([float(mass.count)], dtype=torch.float64)
        if sharded and world()[1] > 1:
            scores = gather_rows(len(items), mine, scores)
            total, count = all_sum(total), all_sum(count)
        mean_pi = total / count if total is not None and float(count) > 0 else None
        return per_example(self.probes, scores), mean_pi

    def _rows(self, arrays) -> list[tuple[str, str, float]]:
        rows = summarize(arrays)
        if self.probe_types is not None:
            rows = [r for r in rows if r[0] in self.probe_types]
        return rows

    def _evaluate(self, state, model) -> None:
        arrays, mean_pi = self.measure(model)
        step = self.step_offset + state.global_step
        rows = self._rows(arrays)
        values = {(k, m): v for k, m, v in rows}
        if not self.start:
            self.start, self.mass_0 = values, mean_pi
        logs = {f"{PREFIX}/{k}/logp": v for (k, m), v in values.items() if m == "logp"}
        logs.update(
            {
                f"{PREFIX}/chosen/{m}": values["chosen", m]
                for m in TOKEN_METRICS
                if ("chosen", m) in values
            }
        )
        if self.squeezed_at is None and squeezing(values, self.start):
            self.squeezed_at = step
            self._say(
                f"learning dynamics: squeezing signature at step {step}: mean log π(y⁺|x) "
                f"{self.start['chosen', 'logp']:.3f} → {values['chosen', 'logp']:.3f} "
                f"while y* {self.start[Y_STAR, 'logp']:.3f} → {values[Y_STAR, 'logp']:.3f}"
            )
        logs[f"{PREFIX}/squeezing"] = float(self.squeezed_at is not None)
        entry = {"step": step, "mass_gained": self._mass(mean_pi)}
        self.history.append(entry)
        if step > 0:  # the trainer's first log is at step ≥ 1: step 0 lives in metrics.csv only
            self.pending_logs.update(logs)
        self.pending_rows = rows
        self.pending_prompts = prompt_rows(self.probes, arrays, self.probe_types)
        self.last_step = step

    def _mass(self, mean_pi) -> list[dict]:
        if mean_pi is None or self.mass_0 is None:
            return []
        return [
            {"token": self.tokenizer.decode([v]), "id": v, "gain": g}
            for v, g in top_gains(mean_pi, self.mass_0, self.top_k)
        ]

    def _say(self, message: str) -> None:
        if is_main():
            print(message, file=sys.stderr)

    def _flush(self, state, args) -> None:
        """Append the pending rows (and the mean logged loss since the last evaluation)."""
        if self.pending_rows is None:
            return
        rows = list(self.pending_rows)
        if self.losses:
            rows.append((TRAIN, "loss", float(np.mean(self.losses))))
        self.losses = []
        if self.log is not None:
            batch = args.per_device_train_batch_size * args.gradient_accumulation_steps
            seen = self.last_step * batch * args.world_size
            self.log.append(self.last_step, seen, rows, self.pending_prompts)
        self.pending_rows = None

    # -- trainer events -----------------------------------------------------------------------
    def on_train_begin(self, args, state, control, model=None, processing_class=None, **kwargs):
        """Score step 0, unless this continues an earlier phase (whose last row it is)."""
        if self.probes is not None:
            return
        self._prepare(args, processing_class)
        self._evaluate(state, model)
        self._flush(state, args)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        step = self.step_offset + state.global_step
        if step % self.eval_every == 0 or state.global_step == state.max_steps:
            self._evaluate(state, model)
            control.should_log = True
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs is not None and "loss" in logs:
            self.losses.append(float(logs["loss"]))
        if self.pending_logs and logs is not None:
            logs.update(self.pending_logs)
            if state.log_history and state.log_history[-1].get("step") == state.global_step:
                state.log_history[-1].update(self.pending_logs)
            self.pending_logs = {}
        self._flush(state, args)

    def on_train_end(self, args, state, control, **kwargs):
        self._flush(state, args)
        if not is_main():
            return
        summary = {
            "squeezing": {"detected": self.squeezed_at is not None, "step": self.squeezed_at},
            "mass_gained": self.history[-1]["mass_gained"] if self.history else [],
            "evaluations": [e["step"] for e in self.history],
        }
        path = self.out / SUMMARY
        before = json.loads(path.read_text()) if path.is_file() else {}
        write_json(path, {**before, **summary})
        if summary["mass_gained"]:
            top = ", ".join(f"{m['token']!r} +{m['gain']:.2e}" for m in summary["mass_gained"])
            self._say(f"learning dynamics: along y⁺ the mass went to {top}")
        (self.out / "mass.jsonl").write_text("".join(json.dumps(e) + "\n" for e in self.history))
