"""Softmax, log-softmax and the log-softmax Jacobian A = I − 1πᵀ, without materialising V×V.

Notation (paper, Sec. 3): z ∈ R^V are the logits of one input, π = softmax(z), and
A(π) = ∇_z log π = I − 1πᵀ, so [A]_{ij} = δ_ij − π_j. Every function acts row-wise on a stack of
inputs, Shape: (..., V).
"""

from __future__ import annotations

import numpy as np


def log_softmax(z: np.ndarray) -> np.ndarray:
    """log π = z − logsumexp(z), stable for |z| large. Shape: (..., V) → (..., V)."""
    out = z - np.max(z, axis=-1, keepdims=True)
    out -= np.log(np.sum(np.exp(out), axis=-1, keepdims=True))  # in place: one (N, V) buffer less
    return out


def log_softmax_and_softmax(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log π, π) from one exponential: e = exp(z − max z), π = e/Σe, log π = z − max z − log Σe.

    Two (..., V) buffers in all, where `log_softmax` then `np.exp` would make three and exponentiate
    twice. Shape: (..., V) → ((..., V), (..., V)).
    """
    logp = z - np.max(z, axis=-1, keepdims=True)
    pi = np.exp(logp)
    total = np.sum(pi, axis=-1, keepdims=True)
    pi /= total
    logp -= np.log(total)
    return logp, pi


def softmax(z: np.ndarray) -> np.ndarray:
    """π = softmax(z). Shape: (..., V) → (..., V)."""
    return np.exp(log_softmax(z))


def apply_a(pi: np.ndarray, v: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """A(π) v = v − (πᵀv) 1, the log-softmax Jacobian applied to a direction v.

    This is how a change of logits Δz becomes a change of log-probabilities at first order:
    Δ log π ≈ A Δz (Eq. 3). `out` may be v itself. Shape: pi (..., V), v (..., V) → (..., V).
    """
    row_dot = np.einsum("...i,...i->...", pi, v)[..., None]  # πᵀv, no (N, V) temporary
    return np.subtract(v, row_dot, out=out)


def a_matrix(pi: np.ndarray) -> np.ndarray:
    """A(π) = I − 1πᵀ materialised, for inspection and tests only. Shape: (V,) → (V, V)."""
    return np.eye(pi.shape[-1]) - np.outer(np.ones(pi.shape[-1]), pi)


def a_frobenius_sq(pi: np.ndarray) -> np.ndarray:
    """‖A(π)‖_F² = V‖π‖² + V − 2, from Σ_ij (δ_ij − π_j)² = V − 2Σ_i π_i + VΣ_j π_j². Shape: (..., V) → (...)."""
    v = pi.shape[-1]
    return v * np.sum(pi * pi, axis=-1) + v - 2.0
