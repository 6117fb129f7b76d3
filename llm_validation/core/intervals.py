"""Intervals over probe prompts: how sure a learning-dynamics effect is.

A run's evaluation s gives, for probe type k, the summed log π(y|x_p) of every probe prompt p,
X_k[s, p]; the paper's curves are the means over prompts, x̄_k[s] = (1/P) Σ_p X_k[s, p]. An effect
is a function of such means: a change x̄[e] − x̄[0], a rise to the peak, a difference between two
types or two runs. Its uncertainty is the paired bootstrap over prompts: prompts are resampled as
units, with replacement, and every type, step and run of one prompt moves with it (they are one
prompt's trajectory, strongly correlated). Runs compared with each other, and several seeds of
one setting, are restricted to the prompts they share and paired on them; seeds are averaged per
prompt before resampling (so an interval over seeds is an interval over prompts of the
seed-averaged trajectory; the spread between seeds is reported beside it, not inside it).

Three kinds of interval, each at `LEVEL`:
- `percentile`: the bootstrap percentile interval of a statistic fixed in advance (a change
  between two named steps);
- `simultaneous`: a max-t band over all evaluation steps (Westfall & Young's single-step max-T),
  for a statistic read at a step chosen from the data (the peak): choosing the best of S noisy
  steps and testing it at the nominal level would call a flat curve "rising" far more often than
  5 % of the time; the band keeps the family-wise level;
- `bonferroni`: per-member percentile intervals at level 1 − α/m for a claim about all m members
  of a family ("every other type ends below its start").

An effect `holds` when its interval excludes zero in the claimed direction, is `contradicted`
when it excludes zero in the other, and is `inconclusive` otherwise. Without per-prompt values
(older runs, the reference runs) only the point estimate exists: it is compared with a stated
noise floor instead (`no_interval`), never with zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95
N_BOOT = 2000
# Without an interval: a difference smaller than max(1 nat, 1 % of the curve's size) is not read
# as a change (sums of hundreds of nats over tokens move by a few nats with the prompts sampled).
NOISE_FLOOR_NATS, NOISE_FLOOR_RELATIVE = 1.0, 0.01

HOLDS, CONTRADICTED, INCONCLUSIVE, NOT_RUN = "holds", "contradicted", "inconclusive", "not run"


@dataclass(frozen=True)
class Effect:
    """One measured effect: its value, its interval (None without per-prompt values) and the sign
    the claim expects (+1 a rise, −1 a fall). `floor`: the noise floor used without an interval."""

    name: str
    value: float
    low: float | None
    high: float | None
    sign: int
    floor: float = 0.0

    @property
    def verdict(self) -> str:
        if self.low is None or self.high is None:
            if self.sign * self.value > self.floor:
                return HOLDS
            return CONTRADICTED if -self.sign * self.value > self.floor else INCONCLUSIVE
        if (self.low > 0 and self.sign > 0) or (self.high < 0 and self.sign < 0):
            return HOLDS
        if (self.high < 0 and self.sign > 0) or (self.low > 0 and self.sign < 0):
            return CONTRADICTED
        return INCONCLUSIVE

    def to_json(self) -> dict:
        interval = None if self.low is None else [self.low, self.high]
        return {"name": self.name, "effect": self.value, "interval": interval, **self._floor()}

    def _floor(self) -> dict:
        return {"noise_floor": self.floor} if self.low is None else {}

    def text(self) -> str:
        if self.low is None:
            return f"{self.name} {self.value:+.1f} (no interval; noise floor {self.floor:.1f})"
        return f"{self.name} {self.value:+.1f} [{self.low:+.1f}, {self.high:+.1f}]"


def combine(effects: list[Effect]) -> str:
    """A claim made of parts holds when every part holds, is contradicted when any part is, and
    is inconclusive otherwise."""
    verdicts = [e.verdict for e in effects]
    if CONTRADICTED in verdicts:
        return CONTRADICTED
    return HOLDS if verdicts and all(v == HOLDS for v in verdicts) else INCONCLUSIVE


def noise_floor(*levels: float) -> float:
    """The smallest difference read without an interval: max(1 nat, 1 % of the largest |level|)."""
    return max(NOISE_FLOOR_NATS, NOISE_FLOOR_RELATIVE * max(abs(x) for x in levels))


def resample_weights(n_prompts: int, rng: np.random.Generator, n_boot: int = N_BOOT) -> np.ndarray:
    """Bootstrap weights: row b counts how often each prompt was drawn, divided by P, so that
    W @ x is the mean of resample b. Shape: (n_boot, P)."""
    draws = rng.integers(0, n_prompts, size=(n_boot, n_prompts))
    counts = np.zeros((n_boot, n_prompts))
    np.add.at(counts, (np.arange(n_boot)[:, None], draws), 1.0)
    return counts / n_prompts


@dataclass(frozen=True)
class PromptSample:
    """Per-prompt values of several series on one set of prompts.

    values[name]: Shape (S, P), S evaluation steps × P prompts of one series (a probe type of
    one run, seeds already averaged; S may differ between series); the same prompts, in the same
    order, in every series.
    """

    values: Mapping[str, np.ndarray]

    @property
    def n_prompts(self) -> int:
        return next(iter(self.values.values())).shape[1]

    def means(self) -> dict[str, np.ndarray]:
        """x̄ per series. Shape: (S,) each."""
        return {k: v.mean(axis=1) for k, v in self.values.items()}

    def boot_means(self, rng: np.random.Generator, n_boot: int = N_BOOT) -> dict[str, np.ndarray]:
        """x̄ of each bootstrap resample (prompts drawn jointly for all series). Shape: (B, S)."""
        w = resample_weights(self.n_prompts, rng, n_boot)  # (B, P)
        return {k: w @ v.T for k, v in self.values.items()}  # (B, P) @ (P, S)


def percentile(boot: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The central `level` percentile interval of bootstrap values. Shape: boot (B,)."""
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(boot, [tail, 1.0 - tail])
    return float(low), float(high)


def simultaneous(
    observed: np.ndarray, boot: np.ndarray, level: float = LEVEL
) -> tuple[np.ndarray, np.ndarray]:
    """A max-t band over steps: d[s] ± c·se[s] with c the `level` quantile over resamples of
    max_s |d_b[s] − d[s]| / se[s], so that with probability `level` every step's interval covers
    at once. Steps with se = 0 (the start, where d ≡ 0) get the point. Shapes: observed (S,),
    boot (B, S) → low, high (S,)."""
    se = boot.std(axis=0)
    live = se > 0
    if not live.any():
        return observed.copy(), observed.copy()
    t = np.abs(boot[:, live] - observed[live]) / se[live]
    c = float(np.quantile(t.max(axis=1), level))
    return observed - c * se, observed + c * se
