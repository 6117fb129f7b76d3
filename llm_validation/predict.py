"""Predicted vs actual Δ log π for one optimiser step on a real LM (paper Eq. 5, first order).

An optimiser step on χ_u moves θ by Δθ = η d(g_u), g_u = ∇θ L_u. To first order in η, every probe's
sequence log-prob moves by

    Δ log π(y|χ_o) ≈ ⟨∇θ log π(y|χ_o), Δθ⟩                               (first-order Taylor)

- SGD, d = −g_u:   −η ⟨∇θ log π(y|χ_o), ∇θ L_u⟩ = −η Σ_{m,l} (e_{y_m} − π_m)ᵀ K_{m,l} G_l, which
  is Eq. 5 read off at the observed tokens: e_{y_m}ᵀ A_m = (e_{y_m} − π_m)ᵀ.
- RMSprop, d = −P g_u with P = diag(1/(√v + ε)) at the current state (v after this step's
  update): the same with K_P = J_o P J_uᵀ.
- AdamW, d = −(m̂/(√v̂ + ε) + λθ). On the first step m̂ = g and v̂ = g², so d = −g/(|g| + ε) − λθ
  ≈ −sign(g) − λθ: the step is sign-like. The prediction ⟨∇ log π, η d⟩ still uses the
  optimiser's actual direction and is exact to first order in η, but P = diag(1/(|g| + ε))
  depends on the update's own gradient, so there is no fixed kernel: the map G ↦ Δθ is not
  linear, effects of several examples do not add, and the A·K·G decomposition does not apply.
  Every coordinate moves by ≈ η, so ‖Δθ‖ ≈ η √P, far larger than SGD's η‖g‖ at the same η: the
  first-order regime needs a much smaller η (see `--lr-sweep`).

Losses depend on θ only through sequence log-probs (`losses.LOSSES`), so with c_r = ∂L/∂ log π(y_r)
(e.g. SFT c = −1; DPO c_± = ∓β(1 − a), a = σ(β h)) the residual is G_l = c_r (e_{y_l} − π_l) and
g_u = Σ_r c_r ∇θ log π(y_r|χ_u): one backward per probe, plus none for the update, whose
responses (y⁺, y⁻) are probes too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from llm_validation import entk
from llm_validation.logprobs import Tokenized, collate, sequence_logps, token_statistics
from llm_validation.losses import PairScores, get_loss

# ---------------------------------------------------------------------------------- optimisers


@dataclass(frozen=True)
class Optimiser:
    """A torch optimiser, its hyper-parameters, and its step direction d: Δθ = η d(g, θ, state)."""

    make: Callable[..., torch.optim.Optimizer]
    direction: Callable[..., Tensor]
    defaults: dict = field(default_factory=dict)


def sgd_direction(g: Tensor, theta: Tensor, state: Mapping[str, Tensor]) -> Tensor:
    """d = −g. Shape: as g."""
    return -g


def rmsprop_direction(
    g: Tensor, theta: Tensor, state: Mapping[str, Tensor], alpha: float, eps: float
) -> Tensor:
    """d = −g / (√v + ε), v = α v₀ + (1 − α) g² (torch.optim.RMSprop, no momentum). Shape: as g."""
    v = alpha * state.get("square_avg", torch.zeros_like(g)) + (1 - alpha) * g * g
    return -g / (v.sqrt() + eps)


def adamw_direction(
    g: Tensor,
    theta: Tensor,
    state: Mapping[str, Tensor],
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
) -> Tensor:
    """d = −(m̂ / (√v̂ + ε) + λθ) (torch.optim.AdamW). First step: −g/(|g| + ε) − λθ. Shape: as g."""
    b1, b2 = betas
    t = float(state.get("step", 0)) + 1
    m = b1 * state.get("exp_avg", torch.zeros_like(g)) + (1 - b1) * g
    v = b2 * state.get("exp_avg_sq", torch.zeros_like(g)) + (1 - b2) * g * g
    m_hat, v_hat_sqrt = m / (1 - b1**t), v.sqrt() / (1 - b2**t) ** 0.5
    return -(m_hat / (v_hat_sqrt + eps) + weight_decay * theta)


OPTIMISERS = {
    "sgd": Optimiser(torch.optim.SGD, sgd_direction),
    "rmsprop": Optimiser(torch.optim.RMSprop, rmsprop_direction, {"alpha": 0.99, "eps": 1e-8}),
    "adamw": Optimiser(
        torch.optim.AdamW,
        adamw_direction,
        {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01},
    ),
}


def flat_state(optimizer: torch.optim.Optimizer, params: list[Tensor]) -> dict[str, Tensor]:
    """A torch optimiser's per-parameter state, concatenated like `flatten`. Empty when fresh."""
    states = [optimizer.state.get(p, {}) for p in params]
    if not states[0]:
        return {}
    keys = [k for k, v in states[0].items() if torch.is_tensor(v) and v.numel() == params[0].numel()]
    flat = {k: torch.cat([s[k].reshape(-1) for s in states]) for k in keys}
    return {**flat, "step": float(states[0]["step"])} if "step" in states[0] else flat


def step_direction(
    name: str, g: Tensor, theta: Tensor, state: Mapping[str, Tensor] | None = None
) -> Tensor:
    """d with Δθ = η d for optimiser `name` from flat g, θ (P,) and its flat state. Shape: (P,)."""
    opt = OPTIMISERS[name]
    return opt.direction(g, theta, state or {}, **opt.defaults)


# ------------------------------------------------------------------------------- gradients


def trainable(model: torch.nn.Module) -> list[Tensor]:
    """θ: the trainable parameters, tied weights once, in `named_parameters` order."""
    return [p for p in model.parameters() if p.requires_grad]


def flatten(tensors: list[Tensor]) -> Tensor:
    """Concatenate θ-shaped tensors into one vector. Shape: (P,)."""
    return torch.cat([t.reshape(-1) for t in tensors])


def unflatten(vector: Tensor, like: list[Tensor]) -> list[Tensor]:
    """Inverse of `flatten` for tensors shaped as `like`."""
    return list(torch.split(vector, [t.numel() for t in like]))


def logp_and_grad(model: torch.nn.Module, item: Tokenized, pad_id: int) -> tuple[float, Tensor]:
    """log π(y|x) and ∇θ log π(y|x) for one sequence (one forward + one backward). Grad: (P,)."""
    params = trainable(model)
    device = params[0].device
    ids, attention, response = (t.to(device) for t in collate([item], pad_id))
    logp = sequence_logps(model, ids, attention, response)[0]
    grads = torch.autograd.grad(logp, params, allow_unused=True)
    return float(logp), flatten([torch.zeros_like(p) if g is None else g for g, p in zip(grads, params)])


@torch.no_grad()
def logps(model: torch.nn.Module, items: list[Tokenized], pad_id: int) -> np.ndarray:
    """log π(y|x) for each item, one unpadded sequence at a time (the same arithmetic before and
    after a step, so that padding cannot enter Δ). Shape: (N,)."""
    device = next(model.parameters()).device
    out = []
    for item in items:
        ids, attention, response = (t.to(device) for t in collate([item], pad_id))
        out.append(float(sequence_logps(model, ids, attention, response)[0]))
    return np.array(out)


def loss_coefficients(
    method: str, logp: Mapping[str, float], ref: Mapping[str, float], lengths: Mapping[str, int],
    hyper: Mapping[str, float],
) -> tuple[float, dict[str, float]]:
    """L_u and c_r = ∂L_u/∂ log π(y_r|x_u) for r ∈ {chosen, rejected} (autograd on scalars).

    The reference is π at the state the step starts from, so DPO's h = 0 and c_± = ∓β/2.
    """
    spec = get_loss(method)
    names = ("chosen", "rejected") if spec.pairwise else ("chosen",)
    leaves = {r: torch.tensor([logp[r]], dtype=torch.float64, requires_grad=True) for r in names}
    const = lambda table, r: torch.tensor([float(table[r])], dtype=torch.float64)
    scores = PairScores(
        logp_w=leaves["chosen"],
        logp_l=leaves.get("rejected"),
        ref_w=const(ref, "chosen") if spec.reference else None,
        ref_l=const(ref, "rejected") if spec.reference and spec.pairwise else None,
        len_w=const(lengths, "chosen"),
        len_l=const(lengths, "rejected") if spec.pairwise else None,
    )
    loss = spec.fn(scores, **{**spec.defaults, **hyper}).sum()
    grads = torch.autograd.grad(loss, [leaves[r] for r in names])
    return float(loss), {r: float(g) for r, g in zip(names, grads)}
