"""Every finetuning loss as a pure function of sequence log-probs, and its residual G = ∂L/∂z.

Each loss maps the sequence log-probs log π_θ(y|x) of the responses it touches (and, where it has
one, the reference's log π_ref(y|x)) to the loss and c_r = ∂L/∂ log π(y_r|x). The residual on the
logits then follows by one shared chain rule (`responses.residual`):

    G(χ) = Σ_r c_r (e_{y_r} − π(χ))          (Sec. 3; for SFT c = −1, so G = π − e_y)

so a new loss is one function plus `@register`. Losses are summed over the pairs (responses) of a
batch, matching the step z ← z − η Σ_u K(·, x_u) G(x_u).

| name       | loss                                                     | paper                           |
|------------|----------------------------------------------------------|---------------------------------|
| `sft`      | −log π(y⁺)                                               | cross-entropy                   |
| `negative` | +log π(ȳ): the pure negative gradient                    | Ren & Sutherland, Sec. 3.3      |
| `dpo`      | −log σ(β h), h = log-ratio margin                        | Rafailov et al. 2023            |
| `ipo`      | (h − 1/(2β))²                                            | Azar et al. 2023                |
| `slic`     | max(0, δ − log π(y⁺) + log π(y⁻)) − λ log π(y⁺)          | Zhao et al. 2023 (SLiC-HF)      |
| `simpo`    | −log σ(β/|y⁺| log π(y⁺) − β/|y⁻| log π(y⁻) − γ)          | Meng et al. 2024                |
| `rpo`      | DPO − α log π(y⁺)/|y⁺|                                   | Pang et al. 2024                |
| `pg`       | −Σ min(ρA, clip(ρ, 1 ± ε)A), ρ = π/π_old                  | Schulman et al. 2017; GRPO 2024 |
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit, log_expit

from .responses import Responses, residual, sequence_logp
from .softmax import log_softmax

PAIR = ("chosen", "rejected")
SINGLE = ("y",)


@dataclass(frozen=True)
class SequenceScores:
    """What a loss sees, per named group of responses ("y", or "chosen" and "rejected").

    logp:      log π_θ(y|x) per response, Shape: (R,).
    ref_logp:  log π_ref(y|x) (for `pg`: the behaviour policy π_old), Shape: (R,).
    length:    |y| per response, Shape: (R,).
    advantage: Â per response (`pg` only), Shape: (R,).
    """

    logp: Mapping[str, np.ndarray]
    ref_logp: Mapping[str, np.ndarray]
    length: Mapping[str, np.ndarray]
    advantage: np.ndarray | None = None


@dataclass(frozen=True)
class LossValue:
    """The loss and c = ∂L/∂ log π(y|x) for each group of responses."""

    loss: float
    dlogp: dict[str, np.ndarray]


@dataclass(frozen=True)
class LossSpec:
    """A registered loss: its function, the response groups it reads, its default settings."""

    fn: Callable[..., LossValue]
    groups: tuple[str, ...]
    defaults: dict = field(default_factory=dict)


LOSSES: dict[str, LossSpec] = {}


def register(name: str, groups: tuple[str, ...], **defaults):
    """Add a loss to `LOSSES` under `name`; `defaults` are its hyper-parameters."""

    def add(fn):
        LOSSES[name] = LossSpec(fn, groups, defaults)
        return fn

    return add


def log_ratio_margin(s: SequenceScores) -> np.ndarray:
    """h = [log π(y⁺) − log π_ref(y⁺)] − [log π(y⁻) − log π_ref(y⁻)], per pair."""
    return (s.logp["chosen"] - s.ref_logp["chosen"]) - (s.logp["rejected"] - s.ref_logp["rejected"])


def dpo_coefficient(margin: np.ndarray, beta: float) -> np.ndarray:
    """β(1 − a), a = σ(β h): the scale of DPO's residual, in (0, β), falling as h grows (Sec. 3.3)."""
    return beta * expit(-beta * margin)


@register("sft", SINGLE)
def sft(s: SequenceScores) -> LossValue:
    """L = −Σ log π(y|x); c = −1, so G = π − e_y (Eq. 5)."""
    logp = s.logp["y"]
    return LossValue(float(-logp.sum()), {"y": -np.ones_like(logp)})


@register("negative", SINGLE)
def negative(s: SequenceScores) -> LossValue:
    """L = +Σ log π(ȳ|x): the pure negative gradient, G = e_ȳ − π (squeezing, Sec. 3.3)."""
    logp = s.logp["y"]
    return LossValue(float(logp.sum()), {"y": np.ones_like(logp)})


@register("dpo", PAIR, beta=0.1)
def dpo(s: SequenceScores, beta: float) -> LossValue:
    """L = −Σ log σ(β h); G± = ±β(1 − a)(π − e_{y±}), a = σ(β h) (Rafailov et al. 2023; Eq. 7)."""
    h = log_ratio_margin(s)
    coef = dpo_coefficient(h, beta)
    return LossValue(float(-log_expit(beta * h).sum()), {"chosen": -coef, "rejected": coef})


@register("ipo", PAIR, beta=0.1)
def ipo(s: SequenceScores, beta: float) -> LossValue:
    """L = Σ (h − 1/(2β))² (Azar et al. 2023, Eq. 17), h the log-ratio margin without β.

    c± = ±2(h − 1/(2β)): the push reverses once h passes 1/(2β), so IPO limits itself. The
    paper's IPO uses sequence sums; trl's default averages over tokens instead.
    """
    gap = log_ratio_margin(s) - 1.0 / (2.0 * beta)
    return LossValue(float(np.sum(gap**2)), {"chosen": 2.0 * gap, "rejected": -2.0 * gap})


@register("slic", PAIR, delta=1.0, lam=0.1)
def slic(s: SequenceScores, delta: float, lam: float) -> LossValue:
    """L = Σ max(0, δ − log π(y⁺) + log π(y⁻)) − λ log π(y⁺) (SLiC-HF, Zhao et al. 2023).

    The hinge's push vanishes once the margin exceeds δ; the λ·SFT term never does.
    """
    hinge = delta - s.logp["chosen"] + s.logp["rejected"]
    active = (hinge > 0).astype(float)
    loss = np.maximum(hinge, 0.0).sum() - lam * s.logp["chosen"].sum()
    return LossValue(float(loss), {"chosen": -active - lam, "rejected": active})


@register("simpo", PAIR, beta=2.0, gamma=0.5)
def simpo(s: SequenceScores, beta: float, gamma: float) -> LossValue:
    """L = −Σ log σ(β/|y⁺| log π(y⁺) − β/|y⁻| log π(y⁻) − γ) (Meng et al. 2024, Eq. 6); no reference."""
    lc, lr = s.length["chosen"], s.length["rejected"]
    u = beta * s.logp["chosen"] / lc - beta * s.logp["rejected"] / lr - gamma
    w = expit(-u)  # 1 − σ(u)
    return LossValue(
        float(-log_expit(u).sum()), {"chosen": -w * beta / lc, "rejected": w * beta / lr}
    )


@register("rpo", PAIR, beta=0.1, alpha=1.0)
def rpo(s: SequenceScores, beta: float, alpha: float) -> LossValue:
    """L = DPO − α Σ log π(y⁺)/|y⁺| (Pang et al. 2024, Eq. 2): DPO plus a length-normalised NLL."""
    d = dpo(s, beta)
    nll = -(s.logp["chosen"] / s.length["chosen"]).sum()
    dlogp = {
        "chosen": d.dlogp["chosen"] - alpha / s.length["chosen"],
        "rejected": d.dlogp["rejected"],
    }
    return LossValue(d.loss + alpha * float(nll), dlogp)


@register("pg", SINGLE, clip_eps=0.2)
def pg(s: SequenceScores, clip_eps: float | None) -> LossValue:
    """L = −Σ_r min(ρ_r Â_r, clip(ρ_r, 1 − ε, 1 + ε) Â_r), ρ_r = π(y_r)/π_old(y_r).

    PPO's clipped surrogate (Schulman et al. 2017) as GRPO uses it; `clip_eps=None` is the
    unclipped policy gradient −Σ ρÂ. c = −ρÂ where the unclipped term is the minimum, else 0.
    Deviation: the ratio is per sequence here, where PPO/GRPO take it per token.
    """
    if s.advantage is None:
        raise ValueError("the pg loss needs an advantage per response")
    adv = s.advantage
    rho = np.exp(s.logp["y"] - s.ref_logp["y"])
    if clip_eps is None:
        return LossValue(float(-(rho * adv).sum()), {"y": -rho * adv})
    clipped = np.clip(rho, 1.0 - clip_eps, 1.0 + clip_eps)
    surrogate = np.minimum(rho * adv, clipped * adv)
    live = rho * adv <= clipped * adv  # the unclipped term is the minimum: gradient flows
    return LossValue(float(-surrogate.sum()), {"y": np.where(live, -rho * adv, 0.0)})


@dataclass(frozen=True)
class UpdateBatch:
    """What one update trains on: named groups of responses (and advantages, for `pg`)."""

    groups: Mapping[str, Responses]
    advantage: np.ndarray | None = None


def loss_and_residual(
    loss: str, z: np.ndarray, batch: UpdateBatch, ref_z: np.ndarray | None = None, **hp
) -> tuple[LossValue, np.ndarray]:
    """Evaluate a registered loss at logits z and return it with its residual G = ∂L/∂z.

    ref_z are the reference logits (π_ref; for `pg` π_old); None means π_ref = π, the state of
    the first step. Shape: z (N, V) → G (N, V).
    """
    logp = log_softmax(z)
    return loss_and_residual_at(loss, logp, np.exp(logp), batch, ref_z, **hp)


def loss_and_residual_at(
    loss: str,
    logp: np.ndarray,
    pi: np.ndarray,
    batch: UpdateBatch,
    ref_z: np.ndarray | None = None,
    **hp,
) -> tuple[LossValue, np.ndarray]:
    """`loss_and_residual` given log π and π already computed (the step's hot path)."""
    spec = get_loss(loss)
    groups = {g: batch.groups[g] for g in spec.groups}
    scores = SequenceScores(
        logp={g: sequence_logp(logp, y) for g, y in groups.items()},
        ref_logp={g: _reference_logp(logp, ref_z, y) for g, y in groups.items()},
        length={g: y.lengths.astype(float) for g, y in groups.items()},
        advantage=batch.advantage,
    )
    value = spec.fn(scores, **{**spec.defaults, **hp})
    every = Responses.concat(list(groups.values()))
    g = residual(pi, every, np.concatenate([value.dlogp[name] for name in groups]))
    return value, g


def _reference_logp(logp: np.ndarray, ref_z: np.ndarray | None, y: Responses) -> np.ndarray:
    """log π_ref(y|x), normalising only the rows y visits. Shape: (R,)."""
    if ref_z is None:
        return sequence_logp(logp, y)
    token_logp = log_softmax(ref_z[y.rows])[np.arange(y.rows.size), y.tokens]  # (T,)
    return np.bincount(y.owner, weights=token_logp, minlength=y.n)


def get_loss(name: str) -> LossSpec:
    """The registered loss `name`, or a ValueError listing the known ones."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; known: {', '.join(sorted(LOSSES))}")
    return LOSSES[name]
