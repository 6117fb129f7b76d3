"""One step under a fixed kernel: the exact change against Proposition 1's first-order prediction.

Proposition 1 (Sec. 3.1): after one step of size η on the updating examples x_u,

    Δ log π(x_o) = −η A(x_o) Σ_u K(x_o, x_u) G(x_u) + O(η²),   A = I − 1πᵀ.

Under a fixed kernel the step itself is exact in function space, z ← z − η K G, so the only gap
between `actual` and `predicted` is the O(η²) curvature of log-softmax.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .kernels import apply_kernel, kernel_block
from .losses import UpdateBatch, loss_and_residual_at
from .softmax import a_matrix, apply_a, log_softmax, log_softmax_and_softmax


@dataclass(frozen=True)
class StepResult:
    """One step and its decomposition. Shapes: (N, V) unless stated; k (N, N) or (NV, NV).

    pi is π before the step, which defines A(x_o) = I − 1π(x_o)ᵀ; call `a(o)` to see it.
    """

    loss: float
    lr: float
    z_before: np.ndarray
    z_after: np.ndarray
    pi: np.ndarray
    k: np.ndarray
    g: np.ndarray
    actual: np.ndarray
    predicted: np.ndarray

    def a(self, o: int) -> np.ndarray:
        """A(x_o) = I − 1π(x_o)ᵀ. Shape: (V, V)."""
        return a_matrix(self.pi[o])

    def k_block(self, o: int, u: int) -> np.ndarray:
        """K(x_o, x_u). Shape: (V, V)."""
        n, v = self.pi.shape
        return kernel_block(self.k, o, u, n, v)

    @property
    def relative_error(self) -> float:
        """‖actual − predicted‖_F / ‖actual‖_F over all observed inputs and labels."""
        return relative_error(self.actual, self.predicted)


def relative_error(actual: np.ndarray, predicted: np.ndarray) -> float:
    """‖actual − predicted‖ / ‖actual‖ (0 when both vanish)."""
    denom = np.linalg.norm(actual)
    diff = np.linalg.norm(actual - predicted)
    return float(diff / denom) if denom > 0 else float(diff)


def first_order_change(pi: np.ndarray, k: np.ndarray, g: np.ndarray, lr: float) -> np.ndarray:
    """−η A(x_o) (K G)(x_o) for every observed input o (Proposition 1). Shape: (N, V)."""
    return -lr * apply_a(pi, apply_kernel(k, g))


def row_blocks(n: int, v: int, block_bytes: int = 2**21):
    """Slices of rows of an (N, V) float64 array, each about `block_bytes` (2 MiB: cache-sized)."""
    size = max(1, block_bytes // (8 * v))
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


def take_step(
    z: np.ndarray,
    k: np.ndarray,
    loss: str,
    batch: UpdateBatch,
    lr: float,
    ref_z: np.ndarray | None = None,
    **hp,
) -> StepResult:
    """One step of `loss` on `batch`, with its exact and first-order Δ log π on every input.

    K G is formed once and shared by the step and the prediction. The elementwise work around it
    runs over blocks of rows that fit in cache (`row_blocks`): at (N, V) = (2048, 32k) a pass over
    a whole (N, V) array is a trip to main memory, and a step makes a dozen of them.
    """
    logp, pi = np.empty_like(z), np.empty_like(z)
    for rows in row_blocks(*z.shape):
        logp[rows], pi[rows] = log_softmax_and_softmax(z[rows])
    value, g = loss_and_residual_at(loss, logp, pi, batch, ref_z, **hp)
    delta_z = apply_kernel(k, g)  # (N, V), K G; becomes −η A K G block by block below
    z_after, actual = np.empty_like(z), np.empty_like(z)
    for rows in row_blocks(*z.shape):
        step = delta_z[rows]  # a view
        step *= -lr  # −η K G
        np.add(z[rows], step, out=z_after[rows])
        np.subtract(log_softmax(z_after[rows]), logp[rows], out=actual[rows])
        apply_a(pi[rows], step, out=step)  # −η A K G
    predicted = delta_z
    return StepResult(
        loss=value.loss,
        lr=lr,
        z_before=z,
        z_after=z_after,
        pi=pi,
        k=k,
        g=g,
        actual=actual,
        predicted=predicted,
    )
