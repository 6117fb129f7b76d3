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
| `dpo`      | −log σ(β h), h = log-ratio margin (y⁻ term weighted by w) | Rafailov et al. 2023            |
| `ipo`      | (h − 1/(2β))²                                            | Azar et al. 2023                |
| `slic`     | max(0, δ − log π(y⁺) + log π(y⁻)) − λ log π(y⁺)          | Zhao et al. 2023 (SLiC-HF)      |
| `simpo`    | −log σ(β/|y⁺| log π(y⁺) − β/|y⁻| log π(y⁻) − γ)          | Meng et al. 2024                |
| `rpo`      | DPO − α log π(y⁺)/|y⁺|                                   | Pang et al. 2024                |
| `pg`       | −Σ min(ρA, clip(ρ, 1 ± ε)A), ρ = π/π_old                  | Schulman et al. 2017; GRPO 2024 |
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import expit, log_expit

from .responses import Responses, residual, sequence_logp
from .softmax import log_softmax

PAIR = ("chosen", "rejected")
SINGLE = ("y",)


@dataclass(frozen=True)
class ArrayOps:
    """The array functions a loss may call, so that one definition runs on numpy (here) and on
    torch tensors (`llm_validation.core.losses.TORCH`, where autograd differentiates it)."""

    log_sigmoid: Callable
    sigmoid: Callable
    relu: Callable
    exp: Callable
    minimum: Callable
    clip: Callable
    where: Callable
    ones_like: Callable
    positive: Callable  # 1.0 where x > 0, else 0.0, in x's dtype
    sum: Callable


NUMPY = ArrayOps(
    log_sigmoid=log_expit,
    sigmoid=expit,
    relu=lambda x: np.maximum(x, 0.0),
    exp=np.exp,
    minimum=np.minimum,
    clip=np.clip,
    where=np.where,
    ones_like=np.ones_like,
    positive=lambda x: (x > 0).astype(float),
    sum=np.sum,
)


@dataclass(frozen=True)
class SequenceScores:
    """What a loss sees, per named group of responses ("y", or "chosen" and "rejected").

    logp:      log π_θ(y|x) per response, Shape: (R,).
    ref_logp:  log π_ref(y|x) (for `pg`: the behaviour policy π_old), Shape: (R,); may be None
               for a loss registered with reference=False.
    length:    |y| per response, Shape: (R,).
    advantage: Â per response (`pg` only), Shape: (R,).
    Arrays are numpy or torch, all of one kind.
    """

    logp: Mapping[str, Any]
    ref_logp: Mapping[str, Any] | None
    length: Mapping[str, Any]
    advantage: Any = None


@dataclass(frozen=True)
class LossValue:
    """The loss summed over the batch, and c = ∂L/∂ log π(y|x) for each group of responses."""

    loss: Any
    dlogp: dict[str, Any]


@dataclass(frozen=True)
class LossSpec:
    """A registered loss: its function, the response groups it reads, whether it reads π_ref,
    and its default settings."""

    fn: Callable[..., LossValue]
    groups: tuple[str, ...]
    reference: bool
    defaults: dict = field(default_factory=dict)

    @property
    def pairwise(self) -> bool:
        return self.groups == PAIR

    def evaluate(self, scores: SequenceScores, ops: ArrayOps = NUMPY, **hp) -> LossValue:
        """The loss at `scores` with its defaults overridden by `hp`."""
        unknown = set(hp) - set(self.defaults)
        if unknown:
            raise ValueError(f"unknown hyper-parameter(s) {', '.join(sorted(unknown))}")
        return self.fn(scores, ops, **{**self.defaults, **hp})


LOSSES: dict[str, LossSpec] = {}


def register(name: str, groups: tuple[str, ...], reference: bool, **defaults):
    """Add a loss to `LOSSES` under `name`; `defaults` are its hyper-parameters."""

    def add(fn):
        LOSSES[name] = LossSpec(fn, groups, reference, defaults)
        return fn

    return add


def log_ratio_margin(s: SequenceScores):
    """h = [log π(y⁺) − log π_ref(y⁺)] − [log π(y⁻) − log π_ref(y⁻)], per pair."""
    return (s.logp["chosen"] - s.ref_logp["chosen"]) - (s.logp["rejected"] - s.ref_logp["rejected"])


def dpo_coefficient(margin, beta: float, ops: ArrayOps = NUMPY):
    """β(1 − a), a = σ(β h): the scale of DPO's residual, in (0, β), falling as h grows (Sec. 3.3)."""
    return beta * ops.sigmoid(-beta * margin)


@register("sft", SINGLE, reference=False)
def sft(s: SequenceScores, ops: ArrayOps) -> LossValue:
    """L = −Σ log π(y|x); c = −1, so G = π − e_y (Eq. 5)."""
    logp = s.logp["y"]
    return LossValue(-ops.sum(logp), {"y": -ops.ones_like(logp)})  # Eq. (5)


@register("negative", SINGLE, reference=False)
def negative(s: SequenceScores, ops: ArrayOps) -> LossValue:
    """L = +Σ log π(ȳ|x): the pure negative gradient, G = e_ȳ − π (squeezing, Sec. 3.3)."""
    logp = s.logp["y"]
    return LossValue(ops.sum(logp), {"y": ops.ones_like(logp)})


@register("dpo", PAIR, reference=True, beta=0.1, neg_weight=1.0)
def dpo(s: SequenceScores, ops: ArrayOps, beta: float, neg_weight: float = 1.0) -> LossValue:
    """L = −Σ log σ(β h); G± = ±β(1 − a)(π − e_{y±}), a = σ(β h) (Rafailov et al. 2023; Eq. 7).

    Equals trl's `loss_type="sigmoid"` (label smoothing 0) on the same sequence sums.
    w = `neg_weight` ≠ 1 (not in the paper: a knob for the strength of the negative gradient)
    scales the y⁻ log-ratio, h_w = Δ⁺ − w Δ⁻, so c⁺ = −β(1 − a), c⁻ = +w β(1 − a) with
    a = σ(β h_w); w = 0 removes the negative gradient.
    """
    chosen = s.logp["chosen"] - s.ref_logp["chosen"]
    h = chosen - neg_weight * (s.logp["rejected"] - s.ref_logp["rejected"])
    coef = dpo_coefficient(h, beta, ops)
    loss = -ops.sum(ops.log_sigmoid(beta * h))  # Eq. (7)
    return LossValue(loss, {"chosen": -coef, "rejected": neg_weight * coef})


@register("ipo", PAIR, reference=True, beta=0.1)
def ipo(s: SequenceScores, ops: ArrayOps, beta: float) -> LossValue:
    """L = Σ (h − 1/(2β))² (Azar et al. 2023, Eq. 17), h the log-ratio margin without β.

    c± = ±2(h − 1/(2β)): the push reverses once h passes 1/(2β), so IPO limits itself. The
    paper's IPO uses sequence sums; trl's `loss_type="ipo"` averages log-probs over tokens, so it
    equals this loss under `--reduction mean` (per pair; trl then averages over the batch).
    """
    gap = log_ratio_margin(s) - 1.0 / (2.0 * beta)
    return LossValue(ops.sum(gap**2), {"chosen": 2.0 * gap, "rejected": -2.0 * gap})  # Eq. (17)


@register("slic", PAIR, reference=False, delta=1.0, lam=0.1)
def slic(s: SequenceScores, ops: ArrayOps, delta: float, lam: float) -> LossValue:
    """L = Σ max(0, δ − log π(y⁺) + log π(y⁻)) − λ log π(y⁺) (SLiC-HF, Zhao et al. 2023).

    The hinge's push vanishes once the margin exceeds δ; the λ·SFT term never does.
    Deviation from trl: trl's `loss_type="hinge"` is relu(1 − β h) on the *reference* log-ratio
    margin h, and its SFT term (`loss_weights` with "sft") is a token mean. With a reference equal
    to zero the hinge here is δ · trl-hinge at β = 1/δ, and λ·(token-mean NLL) is trl's sft term;
    the sequence-summed NLL here equals it only under `--reduction mean`.
    """
    hinge = delta - s.logp["chosen"] + s.logp["rejected"]
    active = ops.positive(hinge)
    loss = ops.sum(ops.relu(hinge)) - lam * ops.sum(s.logp["chosen"])
    return LossValue(loss, {"chosen": -active - lam, "rejected": active})


@register("simpo", PAIR, reference=False, beta=2.0, gamma=0.5)
def simpo(s: SequenceScores, ops: ArrayOps, beta: float, gamma: float) -> LossValue:
    """L = −Σ log σ(β/|y⁺| log π(y⁺) − β/|y⁻| log π(y⁻) − γ) (Meng et al. 2024, Eq. 6); no reference.

    Equals trl's CPOTrainer with `loss_type="simpo"` and `cpo_alpha=0` (its default 1.0 adds an
    NLL term), whose γ is `simpo_gamma` and whose log-probs are token means: the same u.
    """
    lc, lr = s.length["chosen"], s.length["rejected"]
    u = beta * s.logp["chosen"] / lc - beta * s.logp["rejected"] / lr - gamma  # Eq. (6)
    w = ops.sigmoid(-u)  # 1 − σ(u)
    return LossValue(
        -ops.sum(ops.log_sigmoid(u)), {"chosen": -w * beta / lc, "rejected": w * beta / lr}
    )


@register("rpo", PAIR, reference=True, beta=0.1, alpha=1.0)
def rpo(s: SequenceScores, ops: ArrayOps, beta: float, alpha: float) -> LossValue:
    """L = DPO − α Σ log π(y⁺)/|y⁺| (Pang et al. 2024, Eq. 2): DPO plus a length-normalised NLL.

    Deviation from trl: trl's `rpo_alpha` NLL pools the chosen tokens of the whole batch
    (Σ_pairs Σ_tokens / Σ_pairs |y⁺|), where this is a per-pair token mean; they agree when
    every y⁺ of a batch has the same length.
    """
    d = dpo(s, ops, beta)
    nll = -ops.sum(s.logp["chosen"] / s.length["chosen"])
    dlogp = {
        "chosen": d.dlogp["chosen"] - alpha / s.length["chosen"],
        "rejected": d.dlogp["rejected"],
    }
    return LossValue(d.loss + alpha * nll, dlogp)  # Eq. (2)


@register("pg", SINGLE, reference=True, clip_eps=0.2)
def pg(s: SequenceScores, ops: ArrayOps, clip_eps: float | None) -> LossValue:
    """L = −Σ_r min(ρ_r Â_r, clip(ρ_r, 1 − ε, 1 + ε) Â_r), ρ_r = π(y_r)/π_old(y_r).

    PPO's clipped surrogate (Schulman et al. 2017) as GRPO uses it; `clip_eps=None` is the
    unclipped policy gradient −Σ ρÂ. c = −ρÂ where the unclipped term is the minimum, else 0.
    Deviation: the ratio is per sequence here, where PPO/GRPO take it per token.
    """
    if s.advantage is None:
        raise ValueError("the pg loss needs an advantage per response")
    adv = s.advantage
    rho = ops.exp(s.logp["y"] - s.ref_logp["y"])
    if clip_eps is None:
        return LossValue(-ops.sum(rho * adv), {"y": -rho * adv})
    clipped = ops.clip(rho, 1.0 - clip_eps, 1.0 + clip_eps)
    surrogate = ops.minimum(rho * adv, clipped * adv)
    live = rho * adv <= clipped * adv  # the unclipped term is the minimum: gradient flows
    return LossValue(-ops.sum(surrogate), {"y": ops.where(live, -rho * adv, 0.0 * rho)})


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
    value = spec.evaluate(scores, NUMPY, **hp)
    value = LossValue(float(value.loss), value.dlogp)
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
