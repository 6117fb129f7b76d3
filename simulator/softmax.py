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


def softmax(z: np.ndarray) -> np.ndarray:
    """π = softmax(z). Shape: (..., V) → (..., V)."""
    return np.exp(log_softmax(z))


def apply_a(pi: np.ndarray, v: np.ndarray) -> np.ndarray:
    """A(π) v = v − (πᵀv) 1, the log-softmax Jacobian applied to a direction v.

    This is how a change of logits Δz becomes a change of log-probabilities at first order:
    Δ log π ≈ A Δz (Eq. 3). Shape: pi (..., V), v (..., V) → (..., V).
    """
    return v - np.einsum("...i,...i->...", pi, v)[..., None]  # row dot products, no (N, V) temporary


def a_matrix(pi: np.ndarray) -> np.ndarray:
    """A(π) = I − 1πᵀ materialised, for inspection and tests only. Shape: (V,) → (V, V)."""
    return np.eye(pi.shape[-1]) - np.outer(np.ones(pi.shape[-1]), pi)


def a_frobenius_sq(pi: np.ndarray) -> np.ndarray:
    """‖A(π)‖_F² = V‖π‖² + V − 2, from Σ_ij (δ_ij − π_j)² = V − 2Σ_i π_i + VΣ_j π_j². Shape: (..., V) → (...)."""
    v = pi.shape[-1]
    return v * np.sum(pi * pi, axis=-1) + v - 2.0
