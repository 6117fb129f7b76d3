"""Pairwise win rates with honest statistics (numpy only, no I/O).

Every prompt i is judged twice, once with A shown first and once with B shown first (a control for
position bias: LLM judges prefer one slot). A judgment is one of `A`, `B`, `TIE` (A wins, B wins,
a tie) or `INVALID` (an answer that could not be read). Scored from A's side,

    s(j) = 1 if j = A,  1/2 if j = TIE,  0 if j = B,

a prompt's verdict combines its valid judgments J_i (invalid ones are dropped):

    v_i = sign(Σ_{j ∈ J_i} (s(j) − 1/2))  ∈ {+1 win, 0 tie, −1 loss},   J_i = ∅ → no verdict.

So A wins a prompt when it wins both orders, or one order and ties the other; a judge that picks
the first slot both times (the two orders disagree) gives a tie. With W wins, T ties and L losses
over n = W + T + L prompts, ties counting one half,

    p̂ = (W + T/2) / n.                                                      (win rate)

95% interval, Wilson (1927) score interval with z = Φ⁻¹(0.975):

    centre = (p̂ + z²/(2n)) / (1 + z²/n),
    half   = z / (1 + z²/n) · √(p̂(1 − p̂)/n + z²/(4n²)),

or a percentile bootstrap over prompts: resample the n per-prompt scores (1, 1/2, 0) with
replacement B times (a seeded Generator) and take the 2.5% and 97.5% quantiles of the mean.
The Wilson interval treats each tie as half a success, an approximation; the bootstrap needs none.

First-position rate: among valid, non-tie judgments, the fraction that picked the response shown
first (1/2 for a judge without position bias).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

A, B, TIE, INVALID = "A", "B", "tie", "invalid"
JUDGMENTS = (A, B, TIE, INVALID)
Z_95 = 1.959963984540054  # Φ⁻¹(0.975)
SCORE = {A: 1.0, TIE: 0.5, B: 0.0}  # s(j), A's side


def prompt_verdict(a_first: str, b_first: str) -> float | None:
    """A's score on one prompt from its two orders: 1 win, 1/2 tie, 0 loss, None if both invalid.

    Both arguments name the winning *response* (A or B), not the slot: `b_first` is the judgment
    of the order (B, A), already mapped back. v = sign(Σ_j (s(j) − 1/2)) over the valid j.
    """
    valid = [SCORE[j] - 0.5 for j in (a_first, b_first) if j != INVALID]
    if not valid:
        return None
    return 0.5 + 0.5 * float(np.sign(sum(valid)))


def wilson_interval(p_hat: float, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval (centre ± half, see the module docstring); (0, 1) for n = 0."""
    if n == 0:
        return 0.0, 1.0
    denominator = 1.0 + z * z / n
    centre = (p_hat + z * z / (2 * n)) / denominator
    half = z / denominator * np.sqrt(p_hat * (1 - p_hat) / n + z * z / (4 * n * n))
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def bootstrap_interval(
    scores: Sequence[float], rng: np.random.Generator, rounds: int = 2000, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap of mean(scores) over prompts: `rounds` resamples of size n."""
    s = np.asarray(scores, dtype=float)  # Shape: (n,)
    if s.size == 0:
        return 0.0, 1.0
    means = s[rng.integers(0, s.size, size=(rounds, s.size))].mean(axis=1)  # (rounds,)
    tail = (1.0 - level) / 2
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def first_position_rate(slot_choices: Sequence[str]) -> float | None:
    """Fraction of decided judgments that chose the first slot; `slot_choices` holds, per
    judgment, `first`, `second`, `tie` or `invalid`. None when no judgment was decided."""
    first = sum(c == "first" for c in slot_choices)
    decided = first + sum(c == "second" for c in slot_choices)
    return first / decided if decided else None


@dataclass(frozen=True)
class WinRate:
    """A's win rate over B: p̂ = (W + T/2)/n with its 95% interval and the judge's bookkeeping."""

    win_rate: float
    ci_low: float
    ci_high: float
    n: int
    wins: int
    ties: int
    losses: int
    invalid: int  # invalid judgments (each prompt has two)
    no_verdict: int  # prompts whose two judgments were both invalid (left out of n)
    first_position_rate: float | None
    interval: str  # "wilson" or "bootstrap"


def tally(
    a_first: Sequence[str],
    b_first: Sequence[str],
    slot_choices: Sequence[str],
    interval: str = "wilson",
    rng: np.random.Generator | None = None,
    rounds: int = 2000,
) -> WinRate:
    """Per-prompt judgments (by winning response, one list per order) → `WinRate`."""
    scores = [prompt_verdict(x, y) for x, y in zip(a_first, b_first, strict=True)]
    kept = [s for s in scores if s is not None]
    n = len(kept)
    wins, ties = sum(s == 1.0 for s in kept), sum(s == 0.5 for s in kept)
    p_hat = float(np.mean(kept)) if kept else 0.5
    if interval == "wilson":
        low, high = wilson_interval(p_hat, n)
    elif interval == "bootstrap":
        if rng is None:
            raise ValueError("the bootstrap interval needs a seeded np.random.Generator")
        low, high = bootstrap_interval(kept, rng, rounds)
    else:
        raise ValueError(f"unknown interval {interval!r}; choose wilson or bootstrap")
    invalid = sum(j == INVALID for j in (*a_first, *b_first))
    return WinRate(
        p_hat,
        low,
        high,
        n,
        wins,
        ties,
        n - wins - ties,
        invalid,
        len(scores) - n,
        first_position_rate(slot_choices),
        interval,
    )
