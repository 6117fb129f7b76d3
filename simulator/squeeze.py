"""The squeezing effect: a negative gradient on an unlikely label pushes mass onto the argmax.

With K = c·I and the pure negative gradient on ȳ (G = e_ȳ − π, step size s = ηc), the new logits
are z′ = z + sπ − s e_ȳ, so in closed form (Sec. 3.3, Appendix)

    log π′_i − log π_i = s π_i − s δ_{iȳ} − log Z,   Z = Σ_j π_j exp(s π_j − s δ_{jȳ}).

For i ≠ ȳ the change is increasing in π_i (the rich get richer), and label i rises iff
s π_i > log Z. So exactly the labels above the threshold log Z / s rise; on a peaky distribution
with ȳ in a valley, log Z / s lies between the two largest π_i and only the argmax rises.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from .losses import UpdateBatch
from .responses import Responses
from .softmax import log_softmax
from .step import take_step

TARGETS = ("valley", "peak", "middle")


def zipf_logits(vocab: int, peakiness: float) -> np.ndarray:
    """z_i = −peakiness · log(i + 1), so π_i ∝ (i + 1)^(−peakiness): rank order is index order.

    peakiness 0 is uniform; larger is peakier (π_0 = 1/ζ(peakiness) as V → ∞ for peakiness > 1).
    Shape: → (V,).
    """
    return -peakiness * np.log1p(np.arange(vocab, dtype=float))


def target_label(vocab: int, target: str) -> int:
    """The label to push down: the least likely (valley), the argmax (peak) or the median rank."""
    positions = {"valley": vocab - 1, "peak": 0, "middle": vocab // 2}
    if target not in positions:
        raise ValueError(f"unknown target {target!r}; choose from {', '.join(TARGETS)}")
    return positions[target]


def with_probability(z: np.ndarray, label: int, p: float) -> np.ndarray:
    """Logits with π(label) = p exactly and the other labels' ratios kept. Shape: (V,)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"a probability must lie in (0, 1), got {p}")
    logp = log_softmax(z)
    others = np.delete(logp, label)
    rest = others - np.log(np.sum(np.exp(others))) + np.log1p(-p)
    return np.insert(rest, label, np.log(p))


def squeeze_closed_form(pi: np.ndarray, ybar: int, s: float) -> np.ndarray:
    """log π′ after one negative-gradient step of size s = ηc on ȳ under K = c·I. Shape: (V,)."""
    log_pi = np.log(pi)
    shift = _logit_shift(pi, ybar, s)
    return log_pi + shift - logsumexp(log_pi + shift)


def rise_threshold(pi: np.ndarray, ybar: int, s: float) -> float:
    """log Z / s: a label i ≠ ȳ rises iff π_i exceeds it (the exact condition behind C9)."""
    return float(logsumexp(np.log(pi) + _logit_shift(pi, ybar, s)) / s)


def _logit_shift(pi: np.ndarray, ybar: int, s: float) -> np.ndarray:
    """z′ − z = s π − s e_ȳ for the negative-gradient step. Shape: (V,)."""
    shift = s * pi
    shift[ybar] -= s
    return shift


@dataclass(frozen=True)
class SqueezeReport:
    """What one negative-gradient step on ȳ did to a single distribution. Shapes: (V,)."""

    ybar: int
    pi_before: np.ndarray
    pi_after: np.ndarray

    @property
    def increased(self) -> np.ndarray:
        return self.pi_after > self.pi_before

    @property
    def n_increased(self) -> int:
        return int(np.sum(self.increased))

    @property
    def n_decreased(self) -> int:
        return int(np.sum(self.pi_after < self.pi_before))

    @property
    def argmax(self) -> int:
        """The argmax of π before the step, over labels other than ȳ."""
        masked = self.pi_before.copy()
        masked[self.ybar] = -np.inf
        return int(np.argmax(masked))

    @property
    def argmax_gain(self) -> float:
        return float(self.pi_after[self.argmax] - self.pi_before[self.argmax])

    def mass_outside_argmax(self) -> tuple[float, float]:
        """1 − π(argmax), before and after."""
        a = self.argmax
        return 1.0 - float(self.pi_before[a]), 1.0 - float(self.pi_after[a])

    def as_dict(self) -> dict:
        before, after = self.mass_outside_argmax()
        return {
            "vocab": int(self.pi_before.size),
            "target": self.ybar,
            "target_prob_before": float(self.pi_before[self.ybar]),
            "target_prob_after": float(self.pi_after[self.ybar]),
            "argmax": self.argmax,
            "argmax_prob_before": float(self.pi_before[self.argmax]),
            "argmax_prob_after": float(self.pi_after[self.argmax]),
            "argmax_gain": self.argmax_gain,
            "mass_outside_argmax_before": before,
            "mass_outside_argmax_after": after,
            "n_increased": self.n_increased,
            "n_decreased": self.n_decreased,
            "increased": np.flatnonzero(self.increased).tolist(),
        }


def negative_step(z: np.ndarray, ybar: int, lr: float, c: float = 1.0) -> SqueezeReport:
    """Simulate one negative-gradient step on ȳ for one input under K = c·I. Shape: z (V,)."""
    batch = UpdateBatch({"y": Responses.single_labels([0], [ybar])})
    step = take_step(z[None, :], np.array([[c]]), "negative", batch, lr)
    return SqueezeReport(ybar, step.pi[0], np.exp(log_softmax(step.z_after[0])))
