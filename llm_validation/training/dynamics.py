"""What every run reports beyond metrics.csv, whoever trains: the squeezing signature and where
the probability mass along y⁺ went (summary.json's `squeezing`, `mass_gained`, `evaluations`,
and `mass.jsonl`, one line per evaluation; the run format of `common.runs`).

With π̄_t = the mean of π_t(· | x, y⁺_<l) over all positions l of every probe's y⁺, read off the
scoring forward itself (`PositionMass` as `score(visit=...)`, no second pass), "where did the
mass go" lists the `top_k` tokens v with the largest gain π̄_t(v) − π̄_0(v). The squeezing
signature (Sec. 4.2) is mean log π(y⁺|x) below its start while mean y* rises above its start.
The native trainer, the trl backend and `LearningDynamicsCallback` all report through `Dynamics`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

import numpy as np
import torch

from common.probes import Y_STAR
from llm_validation.core.logprobs import at_least_fp32

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


class PositionMass:
    """Accumulates Σ_l π(· | x, y⁺_<l) over the y⁺ positions of the probes scored, Shape: (V,);
    `is_chosen[i]` says whether scored item i is a y⁺."""

    def __init__(self, is_chosen: np.ndarray):
        self.is_chosen, self.total, self.count = torch.as_tensor(is_chosen), None, 0

    def __call__(self, index, seq, z):
        keep = self.is_chosen[torch.as_tensor(index)].to(seq.device)[seq]  # (n,)
        pi = torch.softmax(at_least_fp32(z[keep]), dim=-1).sum(0, dtype=torch.float64).cpu()  # (V,)
        self.total = pi if self.total is None else self.total + pi
        self.count += int(keep.sum())

    def mean(self) -> torch.Tensor | None:
        """π̄ over the positions seen, Shape: (V,); None when no y⁺ was scored."""
        return self.total / self.count if self.total is not None and self.count else None


class Dynamics:
    """The start values, the first squeezing step and the mass history of one run."""

    def __init__(self, decode: Callable[[list[int]], str], top_k: int = 5):
        self.decode, self.top_k = decode, top_k
        self.start: dict[tuple[str, str], float] = {}
        self.mass_0: torch.Tensor | None = None
        self.squeezed_at: int | None = None
        self.history: list[dict] = []

    def update(self, step: int, values: Mapping[tuple[str, str], float], mean_pi) -> str | None:
        """Record evaluation `step` ({(probe type, metric): mean}, π̄ or None) → the squeezing
        message when the signature appears for the first time, else None."""
        if not self.start:
            self.start, self.mass_0 = dict(values), mean_pi
        self.history.append({"step": step, "mass_gained": self.gained(mean_pi)})
        if self.squeezed_at is not None or not squeezing(values, self.start):
            return None
        self.squeezed_at = step
        s, v = self.start, values
        return (
            f"learning dynamics: squeezing signature at step {step}: mean log π(y⁺|x) "
            f"{s['chosen', 'logp']:.3f} → {v['chosen', 'logp']:.3f} "
            f"while y* {s[Y_STAR, 'logp']:.3f} → {v[Y_STAR, 'logp']:.3f}"
        )

    def gained(self, mean_pi) -> list[dict]:
        if mean_pi is None or self.mass_0 is None:
            return []
        return [
            {"token": self.decode([v]), "id": v, "gain": g}
            for v, g in top_gains(mean_pi, self.mass_0, self.top_k)
        ]

    def summary(self) -> dict:
        """summary.json's `squeezing`, `mass_gained` (at the last evaluation), `evaluations`."""
        return {
            "squeezing": {"detected": self.squeezed_at is not None, "step": self.squeezed_at},
            "mass_gained": self.history[-1]["mass_gained"] if self.history else [],
            "evaluations": [e["step"] for e in self.history],
        }

    def mass_report(self) -> str | None:
        """'learning dynamics: along y⁺ the mass went to …', or None without a mass history."""
        gained = self.summary()["mass_gained"]
        if not gained:
            return None
        top = ", ".join(f"{m['token']!r} +{m['gain']:.2e}" for m in gained)
        return f"learning dynamics: along y⁺ the mass went to {top}"

    def mass_lines(self) -> str:
        """mass.jsonl: one JSON object per evaluation (step, mass_gained)."""
        return "".join(json.dumps(e) + "\n" for e in self.history)

    def state(self) -> dict:
        """What a resumed run needs to continue the report (kept in its checkpoint)."""
        return {
            "start": [[k, m, v] for (k, m), v in self.start.items()],
            "mass_0": self.mass_0,
            "squeezed_at": self.squeezed_at,
            "history": self.history,
        }

    def load(self, state: dict) -> None:
        self.start = {(k, m): v for k, m, v in state["start"]}
        self.mass_0, self.squeezed_at = state["mass_0"], state["squeezed_at"]
        self.history = list(state["history"])
