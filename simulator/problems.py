"""A documented random single-label problem for `python -m simulator decompose`.

- N inputs with features φ(x) ~ N(0, I_d)/√d, d = 2N, and the linear kernel K = ΦΦᵀ (PSD, the
  exact kernel of a trained linear readout), so k(x_o, x_u) ≈ δ_ou ± 1/√d.
- Logits Z ~ N(0, 2²): a moderately peaky π on every input.
- Reference logits Z_ref = Z + N(0, 0.5²), so a preference pair's margin h is not 0.
- The updating example is input 0. It gets label y for `sft`/`negative`, a pair (y⁺, y⁻) of
  distinct labels for preference losses, and for `pg` a group of 4 distinct sampled labels with
  group-normalised advantages Â = (r − mean r)/std r of random rewards (GRPO).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .kernels import linear_kernel
from .losses import PAIR, UpdateBatch, get_loss
from .responses import Responses

PG_GROUP = 4


@dataclass(frozen=True)
class Problem:
    """Logits (N, V), reference logits (N, V), kernel (N, N) and the batch to update on."""

    z: np.ndarray
    ref_z: np.ndarray
    k: np.ndarray
    batch: UpdateBatch


def random_problem(
    rng: np.random.Generator, loss: str, n_inputs: int = 8, vocab: int = 10
) -> Problem:
    spec = get_loss(loss)
    phi = rng.standard_normal((n_inputs, 2 * n_inputs)) / np.sqrt(2 * n_inputs)
    z = 2.0 * rng.standard_normal((n_inputs, vocab))
    ref_z = z + 0.5 * rng.standard_normal((n_inputs, vocab))
    if spec.groups == PAIR:
        chosen, rejected = rng.choice(vocab, size=2, replace=False)
        batch = UpdateBatch(
            {
                "chosen": Responses.single_labels([0], [chosen]),
                "rejected": Responses.single_labels([0], [rejected]),
            }
        )
    elif loss == "pg":
        labels = rng.choice(vocab, size=min(PG_GROUP, vocab), replace=False)
        reward = rng.standard_normal(labels.size)
        advantage = (reward - reward.mean()) / (reward.std() + 1e-8)
        batch = UpdateBatch(
            {"y": Responses.single_labels(np.zeros_like(labels), labels)}, advantage
        )
    else:
        batch = UpdateBatch({"y": Responses.single_labels([0], [rng.integers(vocab)])})
    return Problem(z, ref_z, linear_kernel(phi), batch)
