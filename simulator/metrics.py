"""What an experiment records at each evaluation, as a tidy trace.

Per probe type (`PROBE_TYPES`): the mean over training prompts x_u of the sequence log-prob
log π(y|x_u) = Σ_l log π(y_l | x_u, y_<l) (metric `logp`). `y_star` is Σ_l max_v log π(v | x_u, y⁺_<l),
recomputed from the current model at every evaluation.

On the contexts of y⁺ (probe type `chosen`), means over prompts and positions of:
  mass_outside_argmax  1 − max_v π(v|χ)         (falls when squeezing concentrates mass)
  a_frobenius          ‖A(χ)‖_F = √(V‖π‖² + V − 2)
  residual_norm        ‖π(χ) − e_{y_l}‖₂         (the SFT residual's size)
  one_minus_pi         1 − π(y_l|χ)

A trace is tidy: one row per (step, examples_seen, probe_type, metric, value).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common.probes import Y_STAR

from .responses import sequence_logp
from .sequences import Batch, Readout, argmax_logp, token_logp
from .softmax import a_frobenius_sq
from .world import FIXED_PROBES

PROBE_TYPES = (*FIXED_PROBES, "chosen_initial", Y_STAR)  # the world has no self-rephrase


@dataclass(frozen=True)
class Trace:
    """A tidy trace: five equal-length columns. Shapes: (n,) each."""

    step: np.ndarray
    examples_seen: np.ndarray
    probe_type: np.ndarray
    metric: np.ndarray
    value: np.ndarray

    @classmethod
    def from_rows(cls, rows: list[tuple]) -> Trace:
        cols = list(zip(*rows)) if rows else [()] * 5
        return cls(
            np.asarray(cols[0], dtype=int),
            np.asarray(cols[1], dtype=int),
            np.asarray(cols[2], dtype=str),
            np.asarray(cols[3], dtype=str),
            np.asarray(cols[4], dtype=float),
        )

    def rows(self):
        """The rows as (step, examples_seen, probe_type, metric, value) tuples."""
        return zip(
            self.step.tolist(),
            self.examples_seen.tolist(),
            self.probe_type.tolist(),
            self.metric.tolist(),
            self.value.tolist(),
        )

    def series(self, probe_type: str, metric: str = "logp") -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of one probe type's metric, in step order."""
        keep = (self.probe_type == probe_type) & (self.metric == metric)
        order = np.argsort(self.step[keep], kind="stable")
        return self.step[keep][order], self.value[keep][order]


def context_metrics(logp: np.ndarray, tokens: np.ndarray) -> dict[str, float]:
    """The `common.runs.TOKEN_METRICS` averaged over contexts. Shape: logp (N, V), tokens (N,)."""
    pi = np.exp(logp)
    p_y = pi[np.arange(tokens.size), tokens]
    res_sq = np.sum(pi * pi, axis=1) - 2.0 * p_y + 1.0  # ‖π − e_y‖² = ‖π‖² − 2π_y + 1
    return {
        "mass_outside_argmax": float(np.mean(1.0 - pi.max(axis=1))),
        "a_frobenius": float(np.mean(np.sqrt(a_frobenius_sq(pi)))),
        "residual_norm": float(np.mean(np.sqrt(np.maximum(res_sq, 0.0)))),
        "one_minus_pi": float(np.mean(1.0 - p_y)),
    }


def evaluate(model: Readout, probes: dict[str, Batch]) -> list[tuple[str, str, float]]:
    """(probe_type, metric, value) for every probe type and the y⁺-context metrics."""
    out = []
    for name, batch in probes.items():
        logp = token_logp(model, batch)
        out.append((name, "logp", float(sequence_logp(logp, batch.responses()).mean())))
        if name == "chosen":
            out.append(("y_star", "logp", float(argmax_logp(logp, batch).mean())))
            ctx = context_metrics(logp, batch.tokens.reshape(-1))
            out.extend(("chosen", k, v) for k, v in ctx.items())
    return out


def trends(trace: Trace, metric: str = "logp") -> dict[str, dict[str, float]]:
    """{probe_type: {start, max, min, end}} of one metric, for every probe type in the trace."""
    out = {}
    for name in PROBE_TYPES:
        _, v = trace.series(name, metric)
        if v.size:
            out[name] = {
                "start": float(v[0]),
                "max": float(v.max()),
                "min": float(v.min()),
                "end": float(v[-1]),
            }
    return out
