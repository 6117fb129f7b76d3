"""What an experiment records at each evaluation, as a tidy trace.

Per probe type (`PROBE_TYPES`): the mean over training prompts x_u of the sequence log-prob
log π(y|x_u) = Σ_l log π(y_l | x_u, y_<l) (metric `logp`). `y_star` is Σ_l max_v log π(v | x_u, y⁺_<l),
recomputed from the current model at every evaluation.

On the contexts of y⁺ (probe type `chosen`), means over prompts and positions of:
  mass_outside_argmax  1 − max_v π(v|χ)         (falls when squeezing concentrates mass)
  a_frobenius          ‖A(χ)‖_F = √(V‖π‖² + V − 2)
  residual_norm        ‖π(χ) − e_{y_l}‖₂         (the SFT residual's size)
  one_minus_pi         1 − π(y_l|χ)

Squeeze measures (probe type `squeeze`), changes since the start of the traced stage (π_ref,
which is π₀ for a run with no SFT stage; `SQUEEZE_METRICS`):
  bystander_change            mean over the bystanders (every probe type but chosen, rejected
                              and y*) of Δ log π(y|x_u): squeezing moves their mass to the argmax
  y_star_gain_off_argmax      Σ over positions of y⁺ where y⁺_l is not the argmax at the start of
                              Δ max_v log π(v|χ_l), mean over prompts: the y* gain that does not
                              come from y⁺'s own tokens
  mass_outside_argmax_change  Δ of mass_outside_argmax along y⁺ (< 0: mass concentrated)

The world (probe type `world`, step 0 only), along y⁺ at the pretrained π₀ (before any SFT stage):
  chosen_token_prob_at_start      mean over positions of π₀(y⁺_l|χ_l), 1 − the logs' `energy`
  chosen_argmax_fraction_at_start share of positions where y⁺_l is π₀'s argmax

A trace is tidy: one row per (step, examples_seen, probe_type, metric, value).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common import probes
from common.probes import Y_STAR

from .responses import sequence_logp
from .sequences import Batch, Readout, argmax_logp, token_logp
from .softmax import a_frobenius_sq
from .world import FIXED_PROBES

PROBE_TYPES = (*FIXED_PROBES, "chosen_initial", Y_STAR)  # the world has no self-rephrase
BYSTANDERS = tuple(p for p in probes.BYSTANDERS if p in PROBE_TYPES)  # those the world has
SQUEEZE_METRICS = ("bystander_change", "y_star_gain_off_argmax", "mass_outside_argmax_change")
WORLD_METRICS = ("chosen_token_prob_at_start", "chosen_argmax_fraction_at_start")


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


@dataclass(frozen=True)
class SqueezeStart:
    """What the squeeze measures compare with, read at the start of the traced stage.

    logp: mean log π(y|x_u) per probe type; max_logp (R·L,) max_v log π(v|χ_l) along y⁺;
    off_argmax (R·L,) y⁺_l is not the argmax there; mass_outside: mean 1 − max_v π(v|χ_l).
    """

    logp: dict
    max_logp: np.ndarray
    off_argmax: np.ndarray
    mass_outside: float


def squeeze_start(model: Readout, probes: dict[str, Batch]) -> SqueezeStart:
    """The reference of `squeeze_measures`: the model about to be finetuned, on the probes."""
    logp = token_logp(model, probes["chosen"])
    tokens = probes["chosen"].tokens.reshape(-1)
    return SqueezeStart(
        _mean_logp(model, probes)[0],
        logp.max(axis=1),
        logp.argmax(axis=1) != tokens,
        context_metrics(logp, tokens)["mass_outside_argmax"],
    )


def squeeze_measures(
    mean_logp: dict, chosen_logp: np.ndarray, shape: tuple, start: SqueezeStart
) -> dict[str, float]:
    """The `SQUEEZE_METRICS` of the current model against `start`.

    mean_logp: mean log π per probe type now; chosen_logp: log π(·|χ) along y⁺, Shape: (R·L, V);
    shape: (R, L) of y⁺.
    """
    gain = np.where(start.off_argmax, chosen_logp.max(axis=1) - start.max_logp, 0.0)
    outside = float(np.mean(1.0 - np.exp(chosen_logp.max(axis=1))))
    return {
        "bystander_change": float(np.mean([mean_logp[p] - start.logp[p] for p in BYSTANDERS])),
        "y_star_gain_off_argmax": float(gain.reshape(shape).sum(axis=1).mean()),
        "mass_outside_argmax_change": outside - start.mass_outside,
    }


def world_measures(model: Readout, chosen: Batch) -> dict[str, float]:
    """The `WORLD_METRICS`: how far y⁺ is from the greedy response under `model` (π₀)."""
    logp = token_logp(model, chosen)
    tokens = chosen.tokens.reshape(-1)
    return {
        "chosen_token_prob_at_start": float(np.mean(np.exp(logp[np.arange(tokens.size), tokens]))),
        "chosen_argmax_fraction_at_start": float(np.mean(logp.argmax(axis=1) == tokens)),
    }


def _mean_logp(model: Readout, probes: dict[str, Batch]) -> tuple[dict[str, float], np.ndarray]:
    """Mean log π(y|x_u) per probe type (y_star included), and log π(·|χ) along y⁺ (R·L, V)."""
    out = {}
    for name, batch in probes.items():
        logp = token_logp(model, batch)
        out[name] = float(sequence_logp(logp, batch.responses()).mean())
        if name == "chosen":
            out["y_star"] = float(argmax_logp(logp, batch).mean())
            chosen_logp = logp
    return out, chosen_logp


def evaluate(
    model: Readout, probes: dict[str, Batch], start: SqueezeStart | None = None
) -> list[tuple[str, str, float]]:
    """(probe_type, metric, value) for every probe type, the y⁺-context metrics and, given the
    start of the traced stage, the squeeze measures."""
    mean_logp, logp = _mean_logp(model, probes)
    out = [(name, "logp", v) for name, v in mean_logp.items()]
    chosen = probes["chosen"]
    ctx = context_metrics(logp, chosen.tokens.reshape(-1))
    out.extend(("chosen", k, v) for k, v in ctx.items())
    if start is not None:
        sq = squeeze_measures(mean_logp, logp, chosen.tokens.shape, start)
        out.extend(("squeeze", k, v) for k, v in sq.items())
    return out


def final_values(trace: Trace, probe_type: str) -> dict[str, float]:
    """{metric: value at the last step it was read} of one probe type (`squeeze`, `world`)."""
    out = {}
    for metric in np.unique(trace.metric[trace.probe_type == probe_type]).tolist():
        out[metric] = float(trace.series(probe_type, metric)[1][-1])
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


def dpo_picture(t: dict[str, dict[str, float]]) -> dict[str, bool]:
    """The paper's long off-policy DPO picture (Sec. 4.2, Fig. 4) as checks on one run's `trends`:
    y⁺ rises to a peak and then ends below its start; y⁻ has the largest fall of all types; every
    type no step trains on (`BYSTANDERS`) ends below its start; irr_train (the answers to other
    training prompts) rises first and then ends below its start; y* ends above its start."""
    change = {p: t[p]["end"] - t[p]["start"] for p in PROBE_TYPES if p in t}
    rise_then_fall = lambda p: t[p]["max"] > t[p]["start"] > t[p]["end"]
    return {
        "chosen rises, then ends below its start": rise_then_fall("chosen"),
        "rejected falls most": min(change, key=change.get) == "rejected",
        "every untrained type ends below its start": all(change[p] < 0 for p in BYSTANDERS),
        "irr_train rises, then ends below its start": rise_then_fall("irr_train"),
        "y_star ends above its start": change[Y_STAR] > 0,
    }


def trend_spread(per_seed: list[dict[str, dict[str, float]]]) -> dict[str, dict]:
    """Each probe type's trend over several seeds' `trends`, with its spread and its directions.

    Per probe type: for `start`, `max`, `end` and `change` (end − start), {mean, sd, min, max}
    over the seeds (sd with ddof = 1; None for one seed), and how many of the `n` seeds agree on
    each direction: `falls` (end < start), `rises` (end > start), `peaks` (max > start: it rose
    at some evaluation) and `falls_most` (its change is the smallest of all types at that seed).
    """
    lowest = [
        min((p for p in PROBE_TYPES if p in t), key=lambda p: t[p]["end"] - t[p]["start"])
        for t in per_seed
    ]
    out = {}
    for name in PROBE_TYPES:
        runs = [t[name] for t in per_seed if name in t]
        if not runs:
            continue
        values = {k: np.array([r[k] for r in runs]) for k in ("start", "max", "end")}
        values["change"] = values["end"] - values["start"]
        out[name] = {
            **{k: _spread(v) for k, v in values.items()},
            "n": len(runs),
            "falls": int(np.sum(values["change"] < 0)),
            "rises": int(np.sum(values["change"] > 0)),
            "peaks": int(np.sum(values["max"] > values["start"])),
            "falls_most": sum(low == name for low in lowest),
        }
    return out


def _spread(v: np.ndarray) -> dict[str, float | None]:
    """{mean, sd, min, max} of one statistic over seeds. Shape: v (n_seeds,)."""
    sd = float(np.std(v, ddof=1)) if v.size > 1 else None
    return {"mean": float(v.mean()), "sd": sd, "min": float(v.min()), "max": float(v.max())}
