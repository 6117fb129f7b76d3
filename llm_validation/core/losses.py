"""The project's losses on torch tensors: `simulator.LOSSES` evaluated with torch's array ops.

Each loss is defined once, in `simulator/losses.py`, against the array functions it is given
(`ArrayOps`). Here those functions are torch's, so the same definition yields a differentiable
loss (autograd through the model) and its closed-form coefficients c_r = ∂L/∂ log π(y_r|x),
which the first-order prediction uses directly. A test checks the two against each other.

Scores are keyed by response group, as in the simulator: `"y"` for single-response losses
(SFT on y⁺, or on y⁻ in the extension), `"chosen"` / `"rejected"` for pairwise ones. The loss is
summed over the batch; the trainer divides by the batch size.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from simulator.losses import (
    LOSSES,
    PAIR,
    SINGLE,
    ArrayOps,
    LossSpec,
    LossValue,
    SequenceScores,
    get_loss,
)

TORCH = ArrayOps(
    log_sigmoid=F.logsigmoid,
    sigmoid=torch.sigmoid,
    relu=F.relu,
    exp=torch.exp,
    minimum=torch.minimum,
    clip=torch.clamp,
    where=torch.where,
    ones_like=torch.ones_like,
    positive=lambda x: (x > 0).to(x.dtype),
    sum=torch.sum,
)


def evaluate_loss(
    name: str,
    logp: Mapping[str, Tensor],
    length: Mapping[str, Tensor],
    ref_logp: Mapping[str, Tensor] | None = None,
    advantage: Tensor | None = None,
    **hp,
) -> LossValue:
    """The registered loss `name` on torch scores (per group, Shape: (B,) each); `hp` override
    the loss's defaults. The result's `loss` is differentiable, `dlogp` are the closed-form c_r."""
    spec = get_loss(name)
    scores = SequenceScores(logp=logp, ref_logp=ref_logp, length=length, advantage=advantage)
    return spec.evaluate(scores, TORCH, **hp)


def hyper_parameters(spec: LossSpec, given: Mapping[str, object]) -> dict:
    """The loss's hyper-parameters from `given` (a config's fields), where set (not None)."""
    return {k: given[k] for k in spec.defaults if given.get(k) is not None}


__all__ = [
    "LOSSES",
    "PAIR",
    "SINGLE",
    "TORCH",
    "LossSpec",
    "LossValue",
    "SequenceScores",
    "evaluate_loss",
    "get_loss",
    "hyper_parameters",
]
