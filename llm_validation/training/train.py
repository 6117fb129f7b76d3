"""`main(cfg)`: finetune a causal LM with one method and track probe log-likelihoods.

The loop, per phase of the method's plan (`common.methods.plan`):

    for each optimiser step s:   batch B_s = slice of a seeded permutation (pure in (seed, s))
        for each micro-batch:    L = Σ_pairs loss(log π_θ(y⁺|x), log π_θ(y⁻|x), π_ref, |y|) / |B_s|
                                 L.backward()                      (gradient accumulation)
        clip ‖∇‖ ≤ max_grad_norm; optimiser step
        every eval_every steps:  score the probes → metrics.csv (appended, flushed); checkpoint

Probes are scored at step 0, after every `eval_every` optimiser steps, at the steps of `eval_at`
and after the last; each row records `step` and `examples_seen` (= step × batch_size).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from common.errors import UserError
from common.methods import METHODS, Phase
from common.probes import PROBE_TYPES, Y_STAR
from common.progress import progress, say
from common.runs import MASS, METRICS, RunLogs, claim_run_dir, write_summary
from llm_validation.config import RunConfig
from llm_validation.core.directions import OPTIMISERS, make_optimizer
from llm_validation.core.logprobs import (
    CutReport,
    Tokenized,
    Truncation,
    collate,
    length_buckets,
    score,
    sequence_logps,
    shared_sequence_logps,
    tokenize_example,
    two_buckets,
)
from llm_validation.core.losses import LOSSES, PAIR, evaluate_loss, hyper_parameters
from llm_validation.sources.examples import Example
from llm_validation.sources.models import load_model
from llm_validation.training.checkpoint import atomic_save, load_checkpoint, save_checkpoint
from llm_validation.training.drift import write_drift
from llm_validation.training.dynamics import Dynamics, PositionMass
from llm_validation.training.inputs import open_inputs
from llm_validation.training.kernel_tracking import KernelTracker
from llm_validation.training.methods import plan_of, required_fields
from llm_validation.training.onpolicy import load_reward, sample_pairs
from llm_validation.training.runtime import (
    batch_indices,
    compile_body,
    keep_freed_blocks,
    mixed_seed,
    pick_compile,
    pick_device,
    pick_dtype,
    seed_everything,
    slow_bf16,
)
from llm_validation.training.tracking import (
    ProbeSet,
    build_probes,
    per_example,
    prompt_rows,
    report_cuts,
    save_arrays,
    scheduled_evaluation,
    summarize,
    unreached_evaluations,
)

Pair = tuple[Tokenized, Tokenized | None]


def padded_logps(model, items: list[Tokenized], pad_id: int, reduction: str):
    """(log π, |y|) of `items` in one padded batch, or two cut by length where that saves padding
    (~20 % of a DPO step), Shape: (N,) each, in item order."""
    device = next(model.parameters()).device
    buckets = two_buckets([len(it.ids) for it in items])
    logps, lengths = [], []
    for bucket in buckets:
        ids, attention, response = (
            t.to(device) for t in collate([items[i] for i in bucket], pad_id)
        )
        logps.append(sequence_logps(model, ids, attention, response, reduction))
        lengths.append(response[:, 1:].sum(-1).double())
    back = torch.as_tensor(np.argsort(np.concatenate(buckets)), device=device)  # to item order
    return torch.cat(logps)[back], torch.cat(lengths)[back]


def group_logps(model, pairs: list[Pair], pad_id: int, reduction: str, groups: tuple[str, ...]):
    """Forwards over the responses a loss reads → ({group: log π}, {group: |y|}), Shape: (B,)
    each. Groups: ("y",) reads y⁺ of each pair, ("chosen", "rejected") both: each pair's prompt
    run once for its two responses (`shared_sequence_logps`), else one concatenated padded batch
    as the DPO repo's (`padded_logps`). Under `reduction="mean"` the score is already the token
    mean (1/|y|) Σ log π, so |y| is reported as 1: a length-normalised loss (SimPO, RPO's NLL)
    must not divide by |y| a second time."""
    pairwise = groups == PAIR
    items = [w for w, _ in pairs] + ([r for _, r in pairs] if pairwise else [])
    device = next(model.parameters()).device
    logp = shared_sequence_logps(model, items, pad_id, reduction)  # a pair's prompt run once
    if logp is not None:
        length = torch.tensor([it.response_len for it in items], dtype=torch.float64, device=device)
    else:
        logp, length = padded_logps(model, items, pad_id, reduction)
    if reduction == "mean":
        length = torch.ones_like(length)
    b = len(pairs)
    if not pairwise:
        return {"y": logp}, {"y": length}
    return (
        {"chosen": logp[:b], "rejected": logp[b:]},
        {"chosen": length[:b], "rejected": length[b:]},
    )


@dataclass
class Session:
    """Everything one run holds while it trains."""

    cfg: RunConfig
    model: torch.nn.Module
    tokenizer: object
    optimizer: torch.optim.Optimizer
    examples: list[Example]
    pairs: list[Pair]
    probes: ProbeSet
    out: Path
    autocast: Callable[[], contextlib.AbstractContextManager]
    truncation: Truncation
    inputs: dict  # what the loads kept and skipped and what truncation cut (→ summary.json)
    tracker: KernelTracker | None = None  # --track-kernel
    dynamics: Dynamics | None = None  # squeezing and where the mass went (→ summary.json)

    @property
    def pad_id(self) -> int:
        return self.tokenizer.eos_token_id


def phase_data(session: Session, phase: Phase) -> list[Pair]:
    """`pairs`: (y⁺, y⁻) per example; `both`: y⁺ and y⁻ each as an SFT example."""
    if phase.data == "both":
        return [(w, None) for w, _ in session.pairs] + [(r, None) for _, r in session.pairs]
    return session.pairs


@torch.no_grad()
def precompute_reference(session: Session, data: list[Pair]) -> torch.Tensor:
    """log π_ref of every pair from the model as it is now, Shape: (N, 2) (y⁺, y⁻); batched by
    length like `logprobs.score`, `batch_tokens` padded tokens a forward."""
    items = [w for w, _ in data] + [r for _, r in data]
    values = torch.zeros(len(items), dtype=torch.float64)
    device = next(session.model.parameters()).device
    buckets = length_buckets([len(it.ids) for it in items], session.cfg.batch_tokens)
    bar = progress(len(buckets), "reference", unit="batch", nested=True)
    for index in buckets:
        batch = (t.to(device) for t in collate([items[i] for i in index], session.pad_id))
        with session.autocast():
            logp = sequence_logps(session.model, *batch, session.cfg.reduction)
        values[torch.as_tensor(index)] = logp.cpu()
        bar.update(1)
    bar.close()
    return values.view(2, len(data)).T


def reference_fingerprint(session: Session, phase: Phase, data: list[Pair]) -> str:
    """What a cached π_ref was computed from: model, reduction, loss, tokenisation and the token
    ids of every pair (so changed data, tokenizer or truncation all change it)."""
    cfg = session.cfg
    digest = hashlib.sha256()
    settings = (cfg.model, cfg.seed, cfg.reduction, cfg.reference, phase.loss, phase.data)
    digest.update(json.dumps([*settings, asdict(session.truncation)], default=str).encode())
    for pair in data:
        for item in pair:
            if item is not None:
                digest.update(
                    np.asarray(
                        [item.prompt_len, len(item.ids), *item.ids], dtype=np.int64
                    ).tobytes()
                )
    return digest.hexdigest()


def cached_reference(path: Path, fingerprint: str):
    """The value saved at `path` if it was computed from `fingerprint`, else None (recompute)."""
    if not path.is_file():
        return None
    saved = torch.load(path, weights_only=True)
    if not isinstance(saved, dict) or saved.get("fingerprint") != fingerprint:
        say(f"{path}: computed from other inputs; recomputing π_ref")
        return None
    return saved["value"]


def phase_reference(session: Session, index: int, phase: Phase, data: list[Pair]):
    """π_ref for a phase: precomputed log-probs (N, 2) or a frozen model copy, taken from the
    model as the phase starts and saved as reference_<index>.pt (under --checkpoint, where
    --resume can use it) with the fingerprint of what it was computed from, so that --resume
    reuses it and nothing else does."""
    spec = LOSSES[phase.loss]
    if not spec.reference:
        return None
    keep = session.cfg.checkpoint  # resume state, written only where --resume can use it
    path = session.out / f"reference_{index}.pt"
    fingerprint = reference_fingerprint(session, phase, data)
    cached = cached_reference(path, fingerprint) if keep else None
    if session.cfg.reference == "precomputed" and phase.data != "onpolicy":
        if cached is not None:
            return cached
        logps = precompute_reference(session, data)
        if keep:
            atomic_save({"fingerprint": fingerprint, "value": logps}, path)
        return logps
    reference = copy.deepcopy(session.model).eval().requires_grad_(False)
    if cached is not None:
        reference.load_state_dict(cached)
    elif keep:
        atomic_save({"fingerprint": fingerprint, "value": session.model.state_dict()}, path)
    return reference


def reference_scores(session, reference, pairs: list[Pair], index: list[int]):
    """{chosen, rejected: log π_ref} for a micro-batch: rows of the precomputed table or a frozen
    forward; None without a reference."""
    if reference is None:
        return None
    device = next(session.model.parameters()).device
    if isinstance(reference, torch.Tensor):
        rows = reference[index].to(device)
        return {"chosen": rows[:, 0], "rejected": rows[:, 1]}
    with torch.no_grad(), session.autocast():
        logp, _ = group_logps(reference, pairs, session.pad_id, session.cfg.reduction, PAIR)
    return logp


def step_batch(
    session: Session, phase: Phase, data: list[Pair], global_step: int, seed: int, local_step: int
):
    """(pairs, their indices into `data`) for one optimiser step."""
    cfg = session.cfg
    if phase.data == "onpolicy":
        index = batch_indices(len(session.examples), cfg.batch_size, local_step, seed)
        reward = load_reward(cfg.reward, cfg.data, session.examples)
        pairs = sample_pairs(
            session.model,
            session.tokenizer,
            [session.examples[i] for i in index],
            reward,
            mixed_seed(seed, global_step),
            cfg.max_new_tokens,
            session.truncation,
        )
        return pairs, index
    index = batch_indices(len(data), cfg.batch_size, local_step, seed)
    return [data[i] for i in index], index


def warmup_factor(step_in_phase: int, warmup_steps: int) -> float:
    """The DPO repo's linear warmup: min(1, (s + 1)/(N + 1)) at step s of a phase (1 for N = 0);
    a pure function of the step, so a resumed run continues the schedule exactly."""
    return min(1.0, (step_in_phase + 1) / (warmup_steps + 1)) if warmup_steps > 0 else 1.0


def example_name(session: Session, phase: Phase, row: int) -> str:
    """Where training example `row` of a phase's data came from (`file:line`, `synthetic:u`)."""
    n = len(session.examples)
    if phase.data == "both":  # rows [0, N) train y⁺, rows [N, 2N) y⁻ of the same examples
        return f"{session.examples[row % n].source} ({'y⁺' if row < n else 'y⁻'})"
    return session.examples[row].source + (" (sampled)" if phase.data == "onpolicy" else "")


def non_finite(
    session: Session,
    phase: Phase,
    step: int,
    pairs: list[Pair],
    rows: list[int],
    what: str,
    reference,
) -> UserError:
    """The one-line stop for a NaN or inf at optimiser step `step`: the learning rate is named as
    the likely cause unless some of the batch's examples give a non-finite loss at the starting
    weights θ₀ as well (then those examples are named: the data is at fault)."""
    bad = bad_at_start(session, phase, pairs, rows, reference)
    kept = f"the run stops and {session.out / METRICS} keeps the evaluations before it"
    if bad:
        names = ", ".join(example_name(session, phase, r) for r in bad)
        return UserError(
            f"{what} at step {step} ({phase.loss}) on example(s) {names}; their loss is not "
            f"finite at the starting weights either: the data is at fault; {kept}"
        )
    return UserError(
        f"{what} at step {step} ({phase.loss}, lr {session.cfg.lr:g}): the batch's examples give a "
        f"finite loss at the starting weights, so the learning rate is the likely cause (try a "
        f"smaller --lr); {kept}"
    )


@torch.no_grad()
def bad_at_start(
    session: Session, phase: Phase, pairs: list[Pair], rows: list[int], reference
) -> list[int]:
    """The rows of `pairs` whose own loss is not finite under the run's starting weights θ₀ (the
    model loaded afresh, as the run began)."""
    cfg, spec = session.cfg, LOSSES[phase.loss]
    device = next(session.model.parameters()).device
    start, _ = load_model(cfg.model, seed=cfg.seed, device=device)
    with session.autocast():
        logp, length = group_logps(start.eval(), pairs, session.pad_id, cfg.reduction, spec.groups)
    ref = reference_scores(session, reference, pairs, rows)
    params = hyper_parameters(spec, asdict(cfg))
    per_pair = per_pair_losses(phase.loss, logp, length, ref, params)
    return [r for r, v in zip(rows, per_pair) if not torch.isfinite(v)]


def per_pair_losses(name: str, logp, length, ref, params) -> Tensor:
    """The loss of each pair of a micro-batch alone, Shape: (B,) (to name a non-finite one)."""
    pick = lambda table, b: None if table is None else {g: v[b : b + 1] for g, v in table.items()}
    size = len(next(iter(logp.values())))
    return torch.stack(
        [
            evaluate_loss(
                name, pick(logp, b), pick(length, b), pick(ref, b), **params
            ).loss.detach()
            for b in range(size)
        ]
    )


def train_step(
    session: Session, phase: Phase, batch: list[Pair], index: list[int], reference, step: int = 0
) -> float:
    """Optimiser step `step` + 1 with gradient accumulation and clipping → the batch's mean loss.
    A NaN or inf loss (or gradient norm) stops the run before the optimiser steps."""
    cfg, spec = session.cfg, LOSSES[phase.loss]
    params = hyper_parameters(spec, asdict(cfg))
    size = cfg.micro_batch_size or cfg.batch_size
    session.model.train()
    session.optimizer.zero_grad(set_to_none=False)  # reuse the buffers: no 0.5 GB malloc a step
    total = 0.0
    for i in range(0, len(batch), size):
        pairs, rows = batch[i : i + size], index[i : i + size]
        with session.autocast():
            logp, length = group_logps(
                session.model, pairs, session.pad_id, cfg.reduction, spec.groups
            )
        ref = reference_scores(session, reference, pairs, rows)
        loss = evaluate_loss(phase.loss, logp, length, ref, **params).loss / len(batch)
        if not torch.isfinite(loss):
            what = f"loss {float(loss.detach())}"
            raise non_finite(session, phase, step + 1, pairs, rows, what, reference)
        loss.backward()
        total += float(loss.detach())
    if cfg.max_grad_norm > 0:
        norm = torch.nn.utils.clip_grad_norm_(session.model.parameters(), cfg.max_grad_norm)
        if not torch.isfinite(norm):
            what = f"gradient norm {float(norm)}"
            raise non_finite(session, phase, step + 1, batch, index, what, reference)
    session.optimizer.step()
    return total


def record(session: Session, logs: RunLogs, step: int, losses: list[float]) -> list:
    """Score the probes, append the rows (+ the mean training loss) and the per-prompt rows,
    optionally save arrays."""
    session.model.eval()
    mass = PositionMass(np.array(session.probes.kind) == "chosen")
    with session.autocast():
        scores = score(
            session.model,
            session.probes.items,
            session.pad_id,
            session.cfg.batch_tokens,
            progress=True,
            visit=mass,
        )
    arrays = per_example(session.probes, scores)
    wanted = session.cfg.probe_types.split(",") if session.cfg.probe_types else None
    rows = [r for r in summarize(arrays) if wanted is None or r[0] in wanted]
    message = session.dynamics.update(step, {(k, m): v for k, m, v in rows}, mass.mean())
    if message:
        say(message)
    kernel = session.tracker.evaluate(session.model, step) if session.tracker is not None else []
    prompts = prompt_rows(session.probes, arrays, wanted)
    rows = logs.evaluation(step, step * session.cfg.batch_size, rows, prompts, losses, kernel)
    if session.cfg.save_arrays:
        (session.out / "arrays").mkdir(exist_ok=True)
        save_arrays(session.out / "arrays" / f"step_{step:06d}.npz", arrays)
    return rows


def check_config(cfg: RunConfig) -> None:
    """Reject settings that cannot run, with a one-line reason."""
    known = {"method": METHODS, "optimizer": OPTIMISERS}
    for name, registry in known.items():
        if getattr(cfg, name) not in registry:
            raise UserError(
                f"unknown {name} {getattr(cfg, name)!r}; choose from {', '.join(registry)}"
            )
    if cfg.track_kernel and cfg.resume:
        raise UserError("--track-kernel cannot --resume: the trajectory intervals start at step 0")
    if cfg.micro_batch_size is not None and cfg.micro_batch_size > cfg.batch_size:
        raise UserError("--micro-batch-size must lie in [1, batch size]")
    if cfg.method == "onpolicy-dpo":
        load_reward(cfg.reward, cfg.data)  # a missing or broken reward fails before any loading
    bad = set((cfg.probe_types or "").split(",")) - set(PROBE_TYPES) - {Y_STAR, ""}
    if bad:
        raise UserError(f"unknown probe types: {', '.join(sorted(bad))}")
    pick_device(cfg.device)  # an unknown or absent device fails before the run folder is taken


def run_config(cfg: RunConfig) -> dict:
    """What config.json records of a run (and what --resume must match)."""
    return json.loads(cfg.to_json())


def open_session(cfg: RunConfig) -> Session:
    """Load model, data and probes (`open_inputs`); build the optimiser."""
    device = pick_device(cfg.device)
    dtype = pick_dtype(cfg.precision, device)
    if note := slow_bf16(dtype, device):
        say(note)
    keep_freed_blocks(device)
    seed_everything(cfg.seed)
    opened = open_inputs(cfg, required=required_fields(cfg.method), device=device)
    examples, model, tokenizer, truncation = (
        opened.examples,
        opened.model,
        opened.tokenizer,
        opened.truncation,
    )
    inputs = dict(opened.loads)
    if pick_compile(cfg.compile, device, cfg.track_kernel):
        compile_body(model)
    types = cfg.probe_types.split(",") if cfg.probe_types else None
    if types is not None and Y_STAR in types:
        types = [*types, "chosen"]  # y* is read off the chosen pass
    probe_cuts, pair_cuts = CutReport(), CutReport()
    probes = build_probes(tokenizer, opened.probes, truncation, types, probe_cuts)
    pairs = []
    for ex in examples:
        pair = {k: ex.responses[k] for k in ("chosen", "rejected") if k in ex.responses}
        tokens = tokenize_example(tokenizer, ex.prompt, pair, truncation, pair_cuts)
        pairs.append((tokens["chosen"], tokens.get("rejected")))  # sft: y⁻ may be absent
    inputs["truncation"] = {
        "training pairs": report_cuts("training pairs", pair_cuts),
        "probes": report_cuts("probes", probe_cuts),
    }
    optimizer = make_optimizer(cfg.optimizer, list(model.parameters()), cfg.lr)
    use_bf16 = dtype == torch.bfloat16
    autocast = lambda: torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16)
    return Session(
        cfg,
        model,
        tokenizer,
        optimizer,
        examples,
        pairs,
        probes,
        cfg.run_dir(),
        autocast,
        truncation,
        inputs,
        dynamics=Dynamics(tokenizer.decode),
    )


class Writes:
    """Guards the run folder's writes: a failed one (disk full, folder removed) stops the run with
    one line, and metrics.csv is cut back to its last complete evaluation, so that it keeps
    every evaluation written so far and no torn one."""

    def __init__(self, logs: RunLogs, step: int | None):
        self.log, self.step, self.size = logs.metrics, step, logs.metrics.path.stat().st_size

    def done(self, step: int) -> None:
        """Evaluation `step` is complete on disk."""
        self.step, self.size = step, self.log.path.stat().st_size

    @contextlib.contextmanager
    def guard(self):
        try:
            yield
        except OSError as err:
            raise UserError(self.failure(err)) from None

    def failure(self, err: OSError) -> str:
        folder = self.log.path.parent
        reason = f"cannot write {err.filename or folder}: {err.strerror or err}"
        if not folder.is_dir():
            return f"{reason} (the run folder {folder} was removed)"
        with contextlib.suppress(OSError):
            os.truncate(self.log.path, self.size)
        kept = "no evaluation" if self.step is None else f"the evaluations through step {self.step}"
        return f"{reason}; {self.log.path} keeps {kept}"


def evaluation(session: Session, logs: RunLogs, writes: Writes, step: int, losses: list[float]):
    """Evaluation `step`: the probes' rows appended to metrics.csv, then the checkpoint."""
    with writes.guard():
        record(session, logs, step, losses)
        writes.done(step)
        if session.cfg.checkpoint:
            extra = {"dynamics": session.dynamics.state()}
            save_checkpoint(session.out, session.model, session.optimizer, step, extra)


def main(cfg: RunConfig, on_eval: Callable[[int], None] | None = None) -> Path:
    """Run `cfg` with the native trainer → its run folder (`backends.main` picks the backend).
    `on_eval(step)` is called after each evaluation is written and checkpointed (a notebook hook;
    raising KeyboardInterrupt there interrupts the run)."""
    check_config(cfg)
    with claim_run_dir(cfg.run_dir(), run_config(cfg), cfg.resume, cfg.overwrite):
        return train(cfg, on_eval)


def train(cfg: RunConfig, on_eval: Callable[[int], None] | None = None) -> Path:
    """The native trainer's body, in a run folder `main` has claimed."""

    session = open_session(cfg)
    phases = plan_of(cfg)
    if cfg.track_kernel:
        session.tracker = KernelTracker(
            session.tokenizer,
            session.examples[: cfg.track_kernel],
            session.truncation,
            phases[-1].loss,
            hyper_parameters(LOSSES[phases[-1].loss], asdict(cfg)),
            session.out,
            cfg.trajectory_intervals(),
            sum(p.steps for p in phases),
            cfg.probe_types.split(",") if cfg.probe_types else None,
        )
    extra: dict = {}
    start = (
        load_checkpoint(session.out, session.model, session.optimizer, extra) if cfg.resume else 0
    )
    if "dynamics" in extra:
        session.dynamics.load(extra["dynamics"])
    logs = RunLogs(session.out, keep_through=start if start else None)
    writes = Writes(logs, start if start else None)
    total = sum(p.steps for p in phases)
    eval_at = cfg.evaluation_steps()
    if note := unreached_evaluations(eval_at, total):
        say(f"--eval-at: {note}")
    started, step, losses = time.perf_counter(), start, []
    if start == 0:
        with writes.guard():
            record(session, logs, 0, [])
        writes.done(0)
    bar = progress(total, cfg.method, initial=start)
    try:  # the bar closes before an error line, which stays the last line on stderr
        for index, phase in enumerate(phases):
            begin = phase.first_step
            if step >= begin + phase.steps:
                continue
            data = phase_data(session, phase)
            with writes.guard():
                reference = phase_reference(session, index, phase, data)
            while step < begin + phase.steps:
                batch, rows = step_batch(session, phase, data, step, cfg.seed + index, step - begin)
                for group in session.optimizer.param_groups:
                    group["lr"] = cfg.lr * warmup_factor(step - begin, cfg.warmup_steps)
                if session.tracker is not None:
                    session.tracker.begin_step(session.model)
                losses.append(train_step(session, phase, batch, rows, reference, step))
                if session.tracker is not None:
                    session.tracker.end_step(session.model)
                step += 1
                bar.set_postfix(loss=f"{losses[-1]:.4g}")
                bar.update(1)
                if scheduled_evaluation(step, cfg.eval_every, eval_at) or step == total:
                    evaluation(session, logs, writes, step, losses)
                    losses = []
                    if on_eval is not None:
                        on_eval(step)
    finally:
        bar.close()
    with writes.guard():
        if cfg.save_model:
            session.model.save_pretrained(session.out / "model")
            session.tokenizer.save_pretrained(session.out / "model")
        finish(session, time.perf_counter() - started, start, phases)
    return session.out


def finish(session: Session, seconds: float, start: int, phases: list[Phase]) -> None:
    """Write timings and the phases run to summary.json (the CLI draws the curves from
    metrics.csv)."""
    total = sum(p.steps for p in phases)
    summary = {
        "wall_seconds": round(seconds, 2),
        "steps_run": total - start,
        "steps": total,
        "inputs": session.inputs,
        "backend": "native",
        **session.dynamics.summary(),
    }
    write_summary(session.out, summary, [p.record() for p in phases])
    (session.out / MASS).write_text(session.dynamics.mass_lines())
    message = session.dynamics.mass_report()
    if message:
        say(message)
    if session.tracker is not None:
        write_drift(session.out)
