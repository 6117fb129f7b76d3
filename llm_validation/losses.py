"""Finetuning losses in torch: one pure function of sequence log-probs each, in a registry.

The torch twins of `simulator.losses` (same names, same hyper-parameter names and defaults), so
that autograd through these functions reproduces the simulator's residual
G = Σ_r (∂L/∂ log π(y_r|x)) (e_{y_r} − π) on the logits (checked in tests/llm/test_losses.py).
Each function returns the per-pair loss, Shape: (B,); the trainer averages over the batch (the
simulator sums: that only rescales the learning rate).

Notation: h = [log π_θ(y⁺|x) − log π_ref(y⁺|x)] − [log π_θ(y⁻|x) − log π_ref(y⁻|x)], |y| the
response length in tokens (EOS included), σ the logistic function.

| name    | L per pair                                              | paper                        |
|---------|---------------------------------------------------------|------------------------------|
| `sft`   | −log π(y⁺|x)                                            | cross-entropy (Eq. 5)        |
| `dpo`   | −log σ(β h)                                             | Rafailov et al. 2023, Eq. 7  |
| `ipo`   | (h − 1/(2β))²                                           | Azar et al. 2023, Eq. 17     |
| `slic`  | max(0, δ − log π(y⁺) + log π(y⁻)) − λ log π(y⁺)         | Zhao et al. 2023 (SLiC-HF)   |
| `simpo` | −log σ(β/|y⁺| log π(y⁺) − β/|y⁻| log π(y⁻) − γ)         | Meng et al. 2024, Eq. 6      |
| `rpo`   | −log σ(β h) − α log π(y⁺|x)/|y⁺|                        | Pang et al. 2024, Eq. 2      |
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class PairScores:
    """Sequence log-probs of a batch of pairs, each Shape: (B,).

    logp_w / logp_l: log π_θ(y⁺|x) / log π_θ(y⁻|x); ref_w / ref_l: the same under π_ref
    (None for losses without a reference); len_w / len_l: |y⁺| / |y⁻| in tokens.
    """

    logp_w: Tensor
    logp_l: Tensor | None = None
    ref_w: Tensor | None = None
    ref_l: Tensor | None = None
    len_w: Tensor | None = None
    len_l: Tensor | None = None


@dataclass(frozen=True)
class LossSpec:
    """A registered loss: its function, whether it reads y⁻ and π_ref, its default settings."""

    fn: Callable[..., Tensor]
    pairwise: bool
    reference: bool
    defaults: dict = field(default_factory=dict)


LOSSES: dict[str, LossSpec] = {}


def register(name: str, pairwise: bool = True, reference: bool = True, **defaults):
    """Add a loss to `LOSSES` under `name`; `defaults` are its hyper-parameters."""

    def add(fn):
        LOSSES[name] = LossSpec(fn, pairwise, reference, defaults)
        return fn

    return add


def log_ratio_margin(s: PairScores) -> Tensor:
    """h = [log π(y⁺) − log π_ref(y⁺)] − [log π(y⁻) − log π_ref(y⁻)]. Shape: (B,)."""
    return (s.logp_w - s.ref_w) - (s.logp_l - s.ref_l)


@register("sft", pairwise=False, reference=False)
def sft(s: PairScores) -> Tensor:
    """L = −log π(y⁺|x): the negative log-likelihood of the sequence (paper Eq. 5, c = −1)."""
    return -s.logp_w  # Eq. (5)


@register("dpo", beta=0.1)
def dpo(s: PairScores, beta: float) -> Tensor:
    """L = −log σ(β h) (Rafailov et al. 2023, Eq. 7); ∂L/∂h = −β(1 − σ(β h)), = −β/2 at h = 0."""
    return -F.logsigmoid(beta * log_ratio_margin(s))  # Eq. (7)


@register("ipo", beta=0.1)
def ipo(s: PairScores, beta: float) -> Tensor:
    """L = (h − 1/(2β))² (Azar et al. 2023, Eq. 17), with sequence sums as in the paper (trl's
    default uses token means instead)."""
    return (log_ratio_margin(s) - 1.0 / (2.0 * beta)) ** 2  # Eq. (17)


@register("slic", reference=False, delta=1.0, lam=0.1)
def slic(s: PairScores, delta: float, lam: float) -> Tensor:
    """L = max(0, δ − log π(y⁺) + log π(y⁻)) − λ log π(y⁺) (SLiC-HF, Zhao et al. 2023): a rank
    hinge with margin δ plus a λ-weighted SFT term on y⁺ (the regulariser's target is y⁺ here)."""
    return F.relu(delta - s.logp_w + s.logp_l) - lam * s.logp_w


@register("simpo", reference=False, beta=2.0, gamma=0.5)
def simpo(s: PairScores, beta: float, gamma: float) -> Tensor:
    """L = −log σ(β/|y⁺| log π(y⁺) − β/|y⁻| log π(y⁻) − γ) (Meng et al. 2024, Eq. 6): length
    normalised, no reference, target margin γ."""
    return -F.logsigmoid(beta * s.logp_w / s.len_w - beta * s.logp_l / s.len_l - gamma)  # Eq. (6)


@register("rpo", beta=0.1, alpha=1.0)
def rpo(s: PairScores, beta: float, alpha: float) -> Tensor:
    """L = −log σ(β h) − α log π(y⁺|x)/|y⁺| (Pang et al. 2024, Eq. 2): DPO plus a length
    normalised NLL on the chosen response."""
    return dpo(s, beta) - alpha * s.logp_w / s.len_w  # Eq. (2)


def get_loss(name: str) -> LossSpec:
    """The registered loss `name`; KeyError lists the known ones."""
    if name not in LOSSES:
        raise KeyError(f"unknown loss {name!r}; known: {', '.join(LOSSES)}")
    return LOSSES[name]
