"""`run --track-kernel K`: the eNTK's drift and the trajectory predictions along a real run.

K tracked updates are the first K training examples; the tracked probes are every probe response
of their prompts. At every evaluation `evaluate` writes the relative-influence matrix
I[u, p] = −⟨∇ log π(y_p), ∇ L_u⟩ per parameter subset (`core.drift`) to kernel.csv, and its
drift from the first evaluation to metrics.csv (probe_type `kernel`). Around every optimiser step
`begin_step` / `end_step` accumulate, over intervals of S steps, the actual change of each tracked
probe and its two first-order predictions (stable kernel, per step) into trajectory.csv.

Cost, per optimiser step with P tracked probes: P forward+backward passes at θ_s (the per-step
prediction, weights swapped back in for the purpose) and P forwards at θ_{s+1}, plus P
forward+backward passes at each interval's end for every S > 1; per evaluation 2K + P
forward+backward passes. Memory: three flat copies of θ plus one per S > 1.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from common.runs import KERNEL, TRAJECTORY
from llm_validation.core.directions import flatten, trainable, unflatten
from llm_validation.core.drift import (
    SUBSETS,
    drift,
    kernel_entries,
    sequence_gradient,
    stacked,
    update_gradient,
)
from llm_validation.core.logprobs import (
    Tokenized,
    Truncation,
    collate,
    sequence_logps,
    tokenize_example,
)
from llm_validation.sources.examples import Example

KERNEL_COLUMNS = ("step", "subset", "update", "probe", "probe_type", "influence")
TRAJECTORY_COLUMNS = (
    "interval",
    "start",
    "end",
    "probe",
    "probe_type",
    "actual",
    "fixed_kernel",
    "per_step",
)


def _append(path: Path, rows: Sequence[Sequence]) -> None:
    with path.open("a", newline="") as handle:
        csv.writer(handle).writerows(rows)


def _start(path: Path, columns: Sequence[str]) -> None:
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerow(columns)


class KernelTracker:
    """Relative influence and trajectory predictions for K updates and their prompts' probes."""

    def __init__(
        self,
        tokenizer,
        examples: Sequence[Example],
        truncation: Truncation,
        loss: str,
        hyper: dict,
        out: Path,
        intervals: Sequence[int],
        total_steps: int,
        types: Sequence[str] | None = None,
    ):
        self.pad = tokenizer.eos_token_id
        self.loss, self.hyper = loss, hyper
        self.updates = [
            tokenize_example(
                tokenizer, ex.prompt, {"chosen": ex.chosen, "rejected": ex.rejected}, truncation
            )
            for ex in examples
        ]
        self.probes: list[tuple[int, str, Tokenized]] = []
        for u, ex in enumerate(examples):
            wanted = {k: v for k, v in ex.responses.items() if types is None or k in types}
            for kind, item in tokenize_example(tokenizer, ex.prompt, wanted, truncation).items():
                self.probes.append((u, kind, item))
        self.intervals = tuple(s for s in intervals if s <= max(total_steps, 1))
        self.kernel_path, self.trajectory_path = out / KERNEL, out / TRAJECTORY
        _start(self.kernel_path, KERNEL_COLUMNS)
        _start(self.trajectory_path, TRAJECTORY_COLUMNS)
        self.first: dict[str, np.ndarray] = {}
        self.steps_done = 0
        self.open: dict[int, dict] = {}  # S → {start, theta, logp, per_step}
        self.ended_at: np.ndarray | None = (
            None  # log π where intervals just closed = where they open
        )

    # ------------------------------------------------------------------ relative influence

    def influence(self, model) -> dict[str, np.ndarray]:
        """{subset: I, Shape (K, P)} at the current θ (eval mode, train mode restored)."""
        with _eval(model):
            ups = [
                update_gradient(model, items, self.pad, self.loss, self.hyper)
                for items in self.updates
            ]
            rows = {s: stacked(ups, s) for s in SUBSETS}
            del ups
            out = {s: np.zeros((len(self.updates), len(self.probes))) for s in SUBSETS}
            for j, (_, _, item) in enumerate(self.probes):
                g = sequence_gradient(model, item, self.pad)
                for s in SUBSETS:
                    out[s][:, j] = -kernel_entries(g, rows[s], s).double().cpu().numpy()
        return out

    def evaluate(self, model, step: int) -> list[tuple[str, str, float]]:
        """Write I at this step to kernel.csv; return the drift rows for metrics.csv."""
        mats = self.influence(model)
        _append(
            self.kernel_path,
            [
                (step, s, i, j, self.probes[j][1], repr(float(m[i, j])))
                for s, m in mats.items()
                for i in range(m.shape[0])
                for j in range(m.shape[1])
            ],
        )
        self.first = self.first or mats
        rows = []
        for s, m in mats.items():
            d = drift(self.first[s], m)
            rows += [
                ("kernel", f"drift_correlation_{s}", d["correlation"]),
                ("kernel", f"drift_max_change_{s}", d["max_change"]),
            ]
        return rows

    # ------------------------------------------------------------------ trajectories

    def begin_step(self, model) -> None:
        """Before an optimiser step: remember θ_s; open the intervals that start here."""
        if not self.intervals:
            return
        self.theta = flatten(trainable(model)).detach().clone()
        starting = [s for s in self.intervals if self.steps_done % s == 0]
        if starting:
            now = self.ended_at if self.ended_at is not None else self._logps(model)
            self.ended_at = None
            for s in starting:
                self.open[s] = {
                    "start": self.steps_done,
                    "theta": self.theta if s == 1 else self.theta.clone(),
                    "logp": now,
                    "per_step": np.zeros(len(now)),
                }

    def end_step(self, model) -> None:
        """After it: add ⟨∇ log π(θ_s), Δθ_s⟩ to every open interval; close those that end."""
        if not self.intervals:
            return
        params = trainable(model)
        after = flatten(params).detach().clone()
        per_step = self._dots(model, params, self.theta, after - self.theta, after)
        self.steps_done += 1
        ending = [s for s in self.intervals if self.steps_done % s == 0]
        if not ending:
            for s in self.intervals:
                self.open[s]["per_step"] += per_step
            return
        end = self.ended_at = self._logps(model)  # the intervals opening next start here
        rows = []
        for s in self.intervals:
            state = self.open[s]
            state["per_step"] += per_step
            if s not in ending:
                continue
            if s == 1:
                fixed = per_step  # one step: the two predictions coincide
            else:
                fixed = self._dots(model, params, state["theta"], after - state["theta"], after)
            actual = end - state["logp"]
            for j, (_, kind, _) in enumerate(self.probes):
                rows.append(
                    (
                        s,
                        state["start"],
                        self.steps_done,
                        j,
                        kind,
                        repr(float(actual[j])),
                        repr(float(fixed[j])),
                        repr(float(state["per_step"][j])),
                    )
                )
            del self.open[s]
        _append(self.trajectory_path, rows)

    def _logps(self, model) -> np.ndarray:
        """log π(y_p) of every tracked probe: one padded no-grad forward (fp32 suffices: interval
        changes are ≥ 1e-4 nats, fp32 round-off of a ~100-nat sum ~1e-5). Shape: (P,)."""
        items = [item for _, _, item in self.probes]
        device = next(model.parameters()).device
        with _eval(model), torch.no_grad():
            batch = (t.to(device) for t in collate(items, self.pad))
            return sequence_logps(model, *batch).double().cpu().numpy()

    def _dots(self, model, params, theta, delta, restore) -> np.ndarray:
        """⟨∇θ log π(y_p)|_theta, delta⟩ (flat, fp32) for every tracked probe; the weights are
        back at `restore` afterwards."""
        _load(params, theta)
        try:
            with _eval(model):
                return np.array(
                    [
                        float(sequence_gradient(model, item, self.pad).all @ delta)
                        for _, _, item in self.probes
                    ]
                )
        finally:
            _load(params, restore)


def _load(params, flat) -> None:
    with torch.no_grad():
        for p, v in zip(params, unflatten(flat, params)):
            p.copy_(v.view_as(p))


class _eval:
    """Eval mode (no dropout) for the duration, then the previous mode."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.training = self.model.training
        self.model.eval()

    def __exit__(self, *exc):
        self.model.train(self.training)
