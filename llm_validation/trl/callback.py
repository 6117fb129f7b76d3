"""`LearningDynamicsCallback`: the project's probe tracking inside a transformers / trl trainer.

Add it to any `transformers.Trainer` (trl's SFTTrainer, DPOTrainer, CPOTrainer included):

    trainer = DPOTrainer(model=..., args=..., train_dataset=..., processing_class=tokenizer)
    LearningDynamicsCallback("probes.jsonl", out="runs/my-dpo", eval_every=10).attach(trainer)
    trainer.train()

At the start of training, every `eval_every` optimiser steps, at the steps of `eval_at` and the
last, it scores every probe type and y* = Σ_l max_v log π(v | x, y⁺_<l) with `logprobs.score` on
the trainer's current model (no grad, eval mode, then back to the mode it was in), and

- appends the tidy rows of `tracking.summarize` (plus `train/loss`, the mean of the losses the
  trainer logged since the previous evaluation) to `<out>/metrics.csv`, flushed at once, so that
  `python -m figures --runs <out>` draws it like a native run; `config.json` holds the trainer's
  arguments (or the `config` given);
- puts `ld/<probe type>/logp` and the token diagnostics along y⁺ (`ld/chosen/<statistic>` for
  ‖A‖_F, ‖π − e_y‖, 1 − π(y), mass outside the argmax) into the trainer's next log, so its
  `report_to` integrations (TensorBoard, W&B, MLflow) receive them;
- reports "where did the mass go" (`mass.jsonl`, `summary.json`'s `mass_gained`) and says once
  when the squeezing signature appears (`summary.json`'s `squeezing`), through `dynamics.Dynamics`
  as the native trainer does; what the loads kept and truncation cut goes to `summary.json`'s
  `inputs`, and each phase it watched (the loss and data of the registry's method that the
  trainer's config runs, `method_of`; its steps) to `phases`, so the run folder is the one of
  `common.runs`.

Under torchrun / accelerate launch the probes are sharded across ranks (item i on rank i mod W),
gathered, and written by the main process only; DDP-wrapped models are unwrapped for scoring.
An FSDP-wrapped model's forward is a collective, so under FSDP every rank scores every probe.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import TrainerCallback

from common.errors import UserError
from common.methods import METHODS, phase_record, single_phase_method
from common.probes import PROBE_TYPES, Y_STAR
from common.progress import say
from common.runs import MASS, SUMMARY, RunClaim, RunLogs, claim_run_dir, write_summary
from llm_validation.core.logprobs import (
    PAPER_TRUNCATION,
    TOKEN_METRICS,
    CutReport,
    Truncation,
    score,
)
from llm_validation.sources.data import load_examples, parse_lines
from llm_validation.sources.examples import Example
from llm_validation.training.distributed import (
    all_sum,
    gather_rows,
    is_fsdp,
    is_main,
    shard,
    unwrap,
    world,
)
from llm_validation.training.dynamics import Dynamics, PositionMass
from llm_validation.training.tracking import (
    ProbeSet,
    build_probes,
    per_example,
    prompt_rows,
    report_cuts,
    report_load,
    scheduled_evaluation,
    summarize,
    unreached_evaluations,
)

PREFIX = "ld"


def tokenizer_chat_template(tokenizer):
    """The tokenizer's `apply_chat_template`; None without a tokenizer; for a tokenizer without
    a chat template, a template that says so (conversational records then name the cause)."""
    if tokenizer is None:
        return None
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template

    def missing(*args, **kwargs):
        raise ValueError(
            f"the tokenizer ({type(tokenizer).__name__}) has no chat template to render this "
            "conversational record (set tokenizer.chat_template)"
        )

    return missing


def probe_examples(
    probes, limit: int | None = None, template=None
) -> tuple[list[Example], dict | None]:
    """A probe/preference file (any format `load_examples` reads), or examples in memory
    (`Example`s or dicts with `prompt` and probe-type fields, validated as a file's lines are,
    strictly) → the first `limit` examples. `template` renders conversational records."""
    if isinstance(probes, (str, Path)):
        examples, report = load_examples(str(probes), required=(), limit=limit, template=template)
        return examples, report_load("probes", report) if is_main() else report.to_json()
    records = list(probes)[:limit]
    if all(isinstance(r, Example) for r in records) and records:
        return records, None
    if not all(isinstance(r, Mapping) for r in records) or not records:
        raise UserError("probes must be a file, or a non-empty list of Examples or of dicts")
    lines = (json.dumps(dict(r)) for r in records)
    return parse_lines(lines, "probes", required=(), strict=True, template=template)[0], None


# trl's config classes whose loss_type names the method (a config class without an entry names
# the method whose single phase it runs, `common.methods.single_phase_method`); None where there
# is no counterpart (CPO's own sigmoid loss, DPOTrainer's hinge against a reference, …).
TRL_LOSSES = {
    "DPOConfig": {"sigmoid": "dpo", "ipo": "ipo"},
    "CPOConfig": {"simpo": "simpo", "hinge": "slic"},  # reference-free, as ours
}


def observed_phase(method: str | None, first_step: int, steps: int) -> dict:
    """summary.json's record of a phase the callback watched: the loss and data of `method`'s
    single phase in the registry (None, None for a trainer it cannot name)."""
    specs = METHODS.get(method, ()) if method is not None else ()
    loss, data = (specs[0].loss, specs[0].data) if len(specs) == 1 else (None, None)
    return phase_record(loss, data, first_step, steps)


def method_of(args) -> str | None:
    """The method a trl trainer's config runs: DPOConfig / CPOConfig by their (single)
    loss_type, any other config class the registry's method whose single phase it runs
    (SFTConfig → sft, OnlineDPOConfig → onpolicy-dpo); None for anything else."""
    name = type(args).__name__
    if name not in TRL_LOSSES:
        return single_phase_method(name)
    loss = getattr(args, "loss_type", None)
    if isinstance(loss, list | tuple) and len(loss) == 1:
        loss = loss[0]
    return TRL_LOSSES.get(name, {}).get(loss) if isinstance(loss, str) else None


class LearningDynamicsCallback(TrainerCallback):
    """Score the paper's probes during a transformers / trl training run (see the module doc).

    probes: a probe or preference file (JSONL, a datasets folder, parquet, JSON; trl's standard
    or, given `tokenizer`, conversational format), or examples in memory (`probe_examples`);
    eval_every: optimiser steps between evaluations (also at step 0 and the last);
    eval_at: optimiser steps to evaluate at as well (e.g. (20, 40, 60): an early phase closely);
    probe_types: the probe types to track (default all present; y_star needs chosen);
    out: the run folder for metrics.csv, config.json, summary.json (default args.output_dir);
    truncation: the project's length limits (paper: 512 / 256, keep the prompt's end);
    tokenizer: default, the trainer's processing_class; config: what config.json records
    (default: the trainer's arguments); top_k: tokens in the "where did the mass go" report;
    overwrite: replace a run already in `out` (else such a folder is refused, `common.runs`).
    """

    def __init__(
        self,
        probes,
        *,
        eval_every: int = 5,
        eval_at: Sequence[int] = (),
        probe_types: Sequence[str] | None = None,
        out: str | Path | None = None,
        truncation: Truncation = PAPER_TRUNCATION,
        probe_limit: int | None = None,
        batch_tokens: int = 4096,
        tokenizer=None,
        config: Mapping | None = None,
        top_k: int = 5,
        progress: bool = True,
        overwrite: bool = False,
    ):
        if eval_every < 1:
            raise UserError("eval_every must be ≥ 1")
        if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in eval_at):
            raise UserError(f"eval_at must be optimiser steps ≥ 1, got {list(eval_at)!r}")
        unknown = set(probe_types or ()) - set(PROBE_TYPES) - {Y_STAR}
        if unknown:
            raise UserError(f"unknown probe types: {', '.join(sorted(unknown))}")
        self.examples, loaded = probe_examples(
            probes, probe_limit, tokenizer_chat_template(tokenizer)
        )
        self.inputs: dict = {"probes": loaded} if loaded else {}  # → summary.json, as native
        self.eval_every, self.truncation, self.batch_tokens = eval_every, truncation, batch_tokens
        self.eval_at = tuple(eval_at)
        self.planned_steps: int | None = None  # all phases' steps (default: the trainer's)
        self.probe_types = list(probe_types) if probe_types else None
        self.out, self.tokenizer, self.config = out, tokenizer, config
        self.top_k, self.progress, self.overwrite = top_k, progress, overwrite
        self.claim: RunClaim | None = None
        self.probes: ProbeSet | None = None
        self.dynamics: Dynamics | None = None  # made with the tokenizer, at the start
        self.pending_rows: list | None = None
        self.pending_logs: dict[str, float] = {}
        self.losses: list[float] = []
        self.pending_prompts: list | None = None
        self.log: RunLogs | None = None
        self.last_step = -1
        self.step_offset = 0  # steps of earlier phases (extend-dpo: SFT, then DPO)
        self.trainer = None  # set by `attach`: the step-0 baseline then goes through trainer.log
        self.started, self.first_step = 0.0, 0  # when and at which step training began
        self.phase_begin = 0  # the trainer's step at which its current phase began
        self.phases: list[dict] = []  # the phases watched (→ summary.json)

    def attach(self, trainer) -> LearningDynamicsCallback:
        """Put the callback first among `trainer`'s callbacks, so that the reporting
        integrations (which transformers lists before user callbacks) see its `ld/` values in the
        same log call (moved there if it was passed in `callbacks=`); returns self."""
        callbacks = trainer.callback_handler.callbacks
        callbacks[:] = [self, *(c for c in callbacks if c is not self)]
        self.trainer = trainer
        return self

    # -- setup --------------------------------------------------------------------------------
    def _types(self) -> list[str] | None:
        if self.probe_types is None:
            return None
        return [*self.probe_types, "chosen"] if Y_STAR in self.probe_types else self.probe_types

    def bind(self, tokenizer) -> ProbeSet:
        """Tokenise the probes with `tokenizer` (the trainer's, at the start of training)."""
        self.tokenizer = tokenizer
        cuts = CutReport()
        self.probes = build_probes(tokenizer, self.examples, self.truncation, self._types(), cuts)
        cut = report_cuts("probes", cuts) if is_main() else cuts.to_json()
        self.inputs["truncation"] = {"probes": cut}
        return self.probes

    def _prepare(self, args, processing_class) -> None:
        tokenizer = self.tokenizer or getattr(processing_class, "tokenizer", processing_class)
        if tokenizer is None:
            raise UserError(
                "LearningDynamicsCallback needs a tokenizer: pass tokenizer= or give "
                "the trainer a processing_class"
            )
        self.bind(tokenizer)
        self.dynamics = Dynamics(self.tokenizer.decode, self.top_k)
        self.out = Path(self.out or args.output_dir)
        if is_main():
            config = dict(self.config) if self.config is not None else args.to_dict()
            config.setdefault("method", method_of(args))  # what `trends` reads
            self.claim = claim_run_dir(self.out, config, overwrite=self.overwrite, resumable=False)
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
        mass = PositionMass(np.array(self.probes.kind)[mine] == "chosen")
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
        message = self.dynamics.update(step, values, mean_pi)
        if message:
            self._say(message)
        logs = {f"{PREFIX}/{k}/logp": v for (k, m), v in values.items() if m == "logp"}
        logs.update(
            {
                f"{PREFIX}/chosen/{m}": values["chosen", m]
                for m in TOKEN_METRICS
                if ("chosen", m) in values
            }
        )
        logs[f"{PREFIX}/squeezing"] = float(self.dynamics.squeezed_at is not None)
        self.pending_logs.update(logs)
        self.pending_rows = rows
        self.pending_prompts = prompt_rows(self.probes, arrays, self.probe_types)
        self.last_step = step

    def _say(self, message: str) -> None:
        """One line on stderr, on its own line even while a progress bar is drawn."""
        if is_main():
            say(message)

    def _flush(self, state, args) -> None:
        """Append the pending rows (and the mean logged loss since the last evaluation)."""
        if self.pending_rows is None:
            return
        losses, self.losses = self.losses, []
        if self.log is not None:
            batch = args.per_device_train_batch_size * args.gradient_accumulation_steps
            seen = self.last_step * batch * args.world_size
            self.log.evaluation(
                self.last_step, seen, self.pending_rows, self.pending_prompts, losses
            )
        self.pending_rows = None

    # -- trainer events -----------------------------------------------------------------------
    def on_train_begin(self, args, state, control, model=None, processing_class=None, **kwargs):
        """Score step 0, unless this continues an earlier phase (whose last row it is)."""
        self.phase_begin = state.global_step
        if self.probes is not None:
            return
        self.started, self.first_step = time.perf_counter(), state.global_step
        planned = self.planned_steps or state.max_steps
        if (note := unreached_evaluations(self.eval_at, planned)) and is_main():
            say(f"eval_at: {note}")
        self._prepare(args, processing_class)
        self._evaluate(state, model)
        self._flush(state, args)
        self._log_pending(state)  # the baseline every later value is compared with

    def _log_pending(self, state) -> None:
        """Values of an evaluation no trainer log carries (step 0, a final step between logs)
        into the trainer's logs: through `trainer.log` when attached (so report_to integrations
        get them at that step), else into `state.log_history` only."""
        logs, self.pending_logs = self.pending_logs, {}
        if self.trainer is not None:
            self.trainer.log(dict(logs))
        else:
            state.log_history.append({**logs, "step": state.global_step})

    def on_step_end(self, args, state, control, model=None, **kwargs):
        step = self.step_offset + state.global_step
        if scheduled_evaluation(step, self.eval_every, self.eval_at) or (
            state.global_step == state.max_steps
        ):
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

    def on_train_end(self, args, state, control, model=None, **kwargs):
        if self.last_step != self.step_offset + state.global_step:  # stopped between evaluations
            self._evaluate(state, model)
            self._log_pending(state)
        self._flush(state, args)
        first = self.step_offset + self.phase_begin
        ran = state.global_step - self.phase_begin
        self.phases.append(observed_phase(method_of(args), first, ran))
        if not is_main():
            return
        path = self.out / SUMMARY
        before = json.loads(path.read_text()) if path.is_file() else {}
        inputs = {**before.get("inputs", {}), **self.inputs}
        steps = self.step_offset + state.global_step
        timing = {
            "wall_seconds": round(time.perf_counter() - self.started, 2),
            "steps_run": steps - self.first_step,
            "steps": steps,
            "backend": "callback",
        }
        write_summary(
            self.out, {**self.dynamics.summary(), **timing, "inputs": inputs}, self.phases
        )
        message = self.dynamics.mass_report()
        if message:
            self._say(message)
        (self.out / MASS).write_text(self.dynamics.mass_lines())
        if self.claim is not None:
            self.claim.__exit__(None, None, None)
            self.claim = None
