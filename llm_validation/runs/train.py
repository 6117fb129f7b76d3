"""`main(cfg)`: finetune a causal LM with one method and track probe log-likelihoods.

The loop, per phase of `methods.plan(cfg)`:

    for each optimiser step s:   batch B_s = slice of a seeded permutation (pure in (seed, s))
        for each micro-batch:    L = Σ_pairs loss(log π_θ(y⁺|x), log π_θ(y⁻|x), π_ref, |y|) / |B_s|
                                 L.backward()                      (gradient accumulation)
        clip ‖∇‖ ≤ max_grad_norm; optimiser step
        every eval_every steps:  score the probes → metrics.csv (appended, flushed); checkpoint

Probes are scored at step 0 and after every `eval_every` optimiser steps and the last; each row
records `step` and `examples_seen` (= step × batch_size).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from common.errors import UserError
from common.probes import PROBE_TYPES, Y_STAR
from common.runs import METRICS, SUMMARY, TRAIN, RunLogs, write_json
from llm_validation.core.directions import OPTIMISERS, make_optimizer
from llm_validation.core.logprobs import (
    CutReport,
    Tokenized,
    Truncation,
    collate,
    length_buckets,
    sequence_logps,
    tokenize_example,
    two_buckets,
)
from llm_validation.core.losses import LOSSES, PAIR, evaluate_loss, hyper_parameters
from llm_validation.runs.checkpoint import atomic_save, load_checkpoint, save_checkpoint
from llm_validation.runs.config import RunConfig
from llm_validation.runs.drift_report import write_drift
from llm_validation.runs.kernel_tracking import KernelTracker
from llm_validation.runs.methods import METHODS, Phase, plan
from llm_validation.runs.onpolicy import load_reward, sample_pairs
from llm_validation.runs.runtime import (
    batch_indices,
    mixed_seed,
    pick_device,
    pick_dtype,
    seed_everything,
)
from llm_validation.runs.tracking import (
    ProbeSet,
    build_probes,
    evaluate,
    prompt_rows,
    report_cuts,
    report_load,
    save_arrays,
    select_probes,
    summarize,
    truncation_of,
)
from llm_validation.sources.data import load_examples
from llm_validation.sources.examples import Example
from llm_validation.sources.models import chat_template, load_model

Pair = tuple[Tokenized, Tokenized | None]


def group_logps(model, pairs: list[Pair], pad_id: int, reduction: str, groups: tuple[str, ...]):
    """Padded forwards over the responses a loss reads → ({group: log π}, {group: |y|}),
    Shape: (B,) each. Groups: ("y",) reads y⁺ of each pair, ("chosen", "rejected") both (one
    concatenated batch, as the DPO repo's, cut in two by length where that saves padding). Under `reduction="mean"` the score is already the
    token mean (1/|y|) Σ log π, so |y| is reported as 1: a length-normalised loss (SimPO, RPO's
    NLL) must not divide by |y| a second time."""
    pairwise = groups == PAIR
    items = [w for w, _ in pairs] + ([r for _, r in pairs] if pairwise else [])
    device = next(model.parameters()).device
    buckets = two_buckets([len(it.ids) for it in items])  # less padding: ~20 % of a DPO step
    logps, lengths = [], []
    for bucket in buckets:
        ids, attention, response = (
            t.to(device) for t in collate([items[i] for i in bucket], pad_id)
        )
        logps.append(sequence_logps(model, ids, attention, response, reduction))
        lengths.append(response[:, 1:].sum(-1).double())
    back = torch.as_tensor(np.argsort(np.concatenate(buckets)), device=device)  # to item order
    logp, length = torch.cat(logps)[back], torch.cat(lengths)[back]  # (B or 2B,)
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
    from tqdm.auto import tqdm

    items = [w for w, _ in data] + [r for _, r in data]
    values = torch.zeros(len(items), dtype=torch.float64)
    device = next(session.model.parameters()).device
    buckets = length_buckets([len(it.ids) for it in items], session.cfg.batch_tokens)
    for index in tqdm(buckets, desc="reference", unit="batch", leave=False):
        batch = (t.to(device) for t in collate([items[i] for i in index], session.pad_id))
        with session.autocast():
            logp = sequence_logps(session.model, *batch, session.cfg.reduction)
        values[torch.as_tensor(index)] = logp.cpu()
    return values.view(2, len(data)).T


def phase_reference(session: Session, index: int, phase: Phase, data: list[Pair]):
    """π_ref for a phase: precomputed log-probs (N, 2) or a frozen model copy, taken from the
    model as the phase starts and saved as reference_<index>.pt so that --resume reuses it."""
    spec = LOSSES[phase.loss]
    if not spec.reference:
        return None
    path = session.out / f"reference_{index}.pt"
    if session.cfg.reference == "precomputed" and phase.data != "onpolicy":
        if path.is_file():
            return torch.load(path, weights_only=True)
        logps = precompute_reference(session, data)
        atomic_save(logps, path)
        return logps
    reference = copy.deepcopy(session.model).eval().requires_grad_(False)
    if path.is_file():
        reference.load_state_dict(torch.load(path, weights_only=True))
    else:
        atomic_save(session.model.state_dict(), path)
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
    rows: list[int],
    what: str,
    per_pair: Tensor | None = None,
) -> UserError:
    """The one-line stop for a NaN or inf: the step, the loss and the example(s) that caused it
    (those whose own loss is not finite; all of the batch when that cannot be told)."""
    bad = rows if per_pair is None else [r for r, v in zip(rows, per_pair) if not torch.isfinite(v)]
    names = ", ".join(example_name(session, phase, r) for r in (bad or rows))
    return UserError(
        f"{what} at step {step} ({phase.loss}) on example(s) {names}; the run stops "
        f"and {session.out / METRICS} keeps the evaluations before it"
    )


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
            per_pair = per_pair_losses(phase.loss, logp, length, ref, params)
            raise non_finite(
                session, phase, step + 1, rows, f"loss {float(loss.detach())}", per_pair
            )
        loss.backward()
        total += float(loss.detach())
    if cfg.max_grad_norm > 0:
        norm = torch.nn.utils.clip_grad_norm_(session.model.parameters(), cfg.max_grad_norm)
        if not torch.isfinite(norm):
            raise non_finite(session, phase, step + 1, index, f"gradient norm {float(norm)}")
    session.optimizer.step()
    return total


def record(session: Session, logs: RunLogs, step: int, losses: list[float]) -> list:
    """Score the probes, append the rows (+ the mean training loss) and the per-prompt rows,
    optionally save arrays."""
    session.model.eval()
    with session.autocast():
        arrays = evaluate(
            session.model, session.probes, session.pad_id, session.cfg.batch_tokens, progress=True
        )
    wanted = session.cfg.probe_types.split(",") if session.cfg.probe_types else None
    rows = [r for r in summarize(arrays) if wanted is None or r[0] in wanted]
    if losses:
        rows.append((TRAIN, "loss", float(np.mean(losses))))
    if session.tracker is not None:
        rows += session.tracker.evaluate(session.model, step)
    logs.append(
        step, step * session.cfg.batch_size, rows, prompt_rows(session.probes, arrays, wanted)
    )
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
    if cfg.track_kernel < 0:
        raise UserError("--track-kernel must be ≥ 0")
    if cfg.track_kernel and cfg.resume:
        raise UserError("--track-kernel cannot --resume: the trajectory intervals start at step 0")
    intervals = [s for s in cfg.track_intervals.split(",") if s.strip()]
    if not all(s.strip().isdigit() and int(s) >= 1 for s in intervals):
        raise UserError(f"--track-intervals must be positive integers, got {cfg.track_intervals!r}")
    if cfg.probe_offset < 0:
        raise UserError("--probe-offset must be ≥ 0")
    if cfg.warmup_steps < 0:
        raise UserError("--warmup-steps must be ≥ 0")
    if cfg.eval_every < 1 or cfg.batch_size < 1 or cfg.steps < 0:
        raise UserError("--eval-every and --batch-size must be ≥ 1 and --steps ≥ 0")
    if cfg.micro_batch_size is not None and not 1 <= cfg.micro_batch_size <= cfg.batch_size:
        raise UserError("--micro-batch-size must lie in [1, batch size]")
    if cfg.method == "onpolicy-dpo":
        load_reward(cfg.reward, cfg.data)  # a missing or broken reward fails before any loading
    bad = set((cfg.probe_types or "").split(",")) - set(PROBE_TYPES) - {Y_STAR, ""}
    if bad:
        raise UserError(f"unknown probe types: {', '.join(sorted(bad))}")


def prepare_run_dir(cfg: RunConfig) -> Path:
    """Create the run folder; on --resume insist that the stored config matches."""
    out = cfg.run_dir()
    stored = out / "config.json"
    if cfg.resume and stored.is_file():
        try:
            before = {k: v for k, v in json.loads(stored.read_text()).items() if k != "resume"}
        except json.JSONDecodeError:
            raise UserError(f"--resume: {stored} is not readable JSON; start a new run") from None
        now = {k: v for k, v in json.loads(cfg.to_json()).items() if k != "resume"}
        changed = sorted(k for k in now if before.get(k) != now[k])
        if changed:
            raise UserError(
                f"--resume with a different configuration ({', '.join(changed)}) than {stored}"
            )
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_json(stored, json.loads(cfg.to_json()))  # atomic: never a half-written config
    except OSError as err:
        raise UserError(f"cannot write {stored}: {err.strerror or err}") from None
    return out


def open_session(cfg: RunConfig) -> Session:
    """Load model, data and probes; build the optimiser."""
    device = pick_device(cfg.device)
    dtype = pick_dtype(cfg.precision, device)
    seed_everything(cfg.seed)
    examples, report = load_examples(
        cfg.data,
        template=chat_template(cfg.model),
        strict=cfg.strict,
        limit=cfg.limit,
        seed=cfg.seed,
    )
    inputs = {"data": report_load("data", report)}
    probe_examples = examples
    if cfg.probes:
        probe_examples, probe_report = load_examples(
            cfg.probes,
            template=chat_template(cfg.model),
            required=(),
            strict=cfg.strict,
            seed=cfg.seed + 1,
        )
        inputs["probes"] = report_load("probes", probe_report)
    probe_examples = select_probes(probe_examples, cfg.probe_offset, cfg.probe_limit)
    model, tokenizer = load_model(cfg.model, seed=cfg.seed, device=device)  # inputs checked first
    truncation = truncation_of(cfg)
    types = cfg.probe_types.split(",") if cfg.probe_types else None
    if types is not None and Y_STAR in types:
        types = [*types, "chosen"]  # y* is read off the chosen pass
    probe_cuts, pair_cuts = CutReport(), CutReport()
    probes = build_probes(tokenizer, probe_examples, truncation, types, probe_cuts)
    pairs = []
    for ex in examples:
        tokens = tokenize_example(
            tokenizer,
            ex.prompt,
            {"chosen": ex.chosen, "rejected": ex.rejected},
            truncation,
            pair_cuts,
        )
        pairs.append((tokens["chosen"], tokens["rejected"]))
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
            save_checkpoint(session.out, session.model, session.optimizer, step)


def main(cfg: RunConfig, on_eval: Callable[[int], None] | None = None) -> Path:
    """Run `cfg` → its run folder. `on_eval(step)` is called after each evaluation is written
    and checkpointed (a notebook hook; raising KeyboardInterrupt there interrupts the run)."""
    from tqdm.auto import tqdm

    check_config(cfg)
    if cfg.backend == "trl":
        from llm_validation.runs.trl_backend import run_trl

        return run_trl(cfg)
    prepare_run_dir(cfg)
    session = open_session(cfg)
    phases = plan(cfg)
    if cfg.track_kernel:
        session.tracker = KernelTracker(
            session.tokenizer,
            session.examples[: cfg.track_kernel],
            session.truncation,
            phases[-1][1].loss,
            hyper_parameters(LOSSES[phases[-1][1].loss], asdict(cfg)),
            session.out,
            [int(s) for s in cfg.track_intervals.split(",") if s.strip()],
            sum(p.steps for _, p in phases),
            cfg.probe_types.split(",") if cfg.probe_types else None,
        )
    start = load_checkpoint(session.out, session.model, session.optimizer) if cfg.resume else 0
    logs = RunLogs(session.out, keep_through=start if start else None)
    writes = Writes(logs, start if start else None)
    total = sum(p.steps for _, p in phases)
    started, step, losses = time.perf_counter(), start, []
    if start == 0:
        with writes.guard():
            record(session, logs, 0, [])
        writes.done(0)
    bar = tqdm(total=total, initial=start, desc=cfg.method, unit="step", file=sys.stderr)
    try:  # the bar closes before an error line, which stays the last line on stderr
        for index, (begin, phase) in enumerate(phases):
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
                bar.update(1)
                bar.set_postfix(loss=f"{losses[-1]:.4g}")
                if step % cfg.eval_every == 0 or step == total:
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
        finish(session, time.perf_counter() - started, start, total)
    return session.out


def finish(session: Session, seconds: float, start: int, total: int) -> None:
    """Write timings to summary.json (the CLI draws the curves from metrics.csv)."""
    summary = {
        "wall_seconds": round(seconds, 2),
        "steps_run": total - start,
        "steps": total,
        "inputs": session.inputs,
    }
    write_json(session.out / SUMMARY, summary)
    if session.tracker is not None:
        write_drift(session.out)
