"""Optimiser step directions on the flat parameter vector θ: Δθ = η d(g, θ, state).

- SGD: d = −g.
- RMSprop: d = −P g with P = diag(1/(√v + ε)) at the current state (v after this step's update).
- AdamW: d = −(m̂/(√v̂ + ε) + λθ). On a fresh optimiser m̂ = g and v̂ = g², so d = −g/(|g| + ε) − λθ
  ≈ −sign(g) − λθ: the first step is sign-like.

Each direction is checked against the torch optimiser of the same name (`OPTIMISERS[name].torch_class`),
fresh or warm, in tests/llm_entk/test_predict.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass(frozen=True)
class Optimiser:
    """An optimiser: the torch class the training loop steps with, its step direction d
    (Δθ = η d(g, θ, state)) and the hyper-parameters both share (torch's defaults, spelled out).

    `cuda`: how it steps on a CUDA card: a fused kernel, or foreach (one launch per group of
    tensors) where torch has no fused one; the same arithmetic as the per-tensor loop, without a
    launch per parameter. Elsewhere torch's own choice stands (on CPU the per-tensor loop, which
    is faster there than foreach: 1.7× in the SmolLM2 DPO step's profile)."""

    torch_class: type[torch.optim.Optimizer]
    direction: Callable[..., Tensor]
    defaults: dict = field(default_factory=dict)
    cuda: dict = field(default_factory=dict)


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
    "sgd": Optimiser(torch.optim.SGD, sgd_direction, cuda={"fused": True}),
    "rmsprop": Optimiser(
        torch.optim.RMSprop,
        rmsprop_direction,
        {"alpha": 0.99, "eps": 1e-8},
        cuda={"foreach": True},  # torch has no fused RMSprop
    ),
    "adamw": Optimiser(
        torch.optim.AdamW,
        adamw_direction,
        {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01},
        cuda={"fused": True},
    ),
}


def make_optimizer(name: str, params: list[Tensor], lr: float) -> torch.optim.Optimizer:
    """The training loop's torch optimiser `name` with the hyper-parameters `step_direction` uses,
    fused or foreach when every parameter is on a CUDA card (`Optimiser.cuda`)."""
    spec = OPTIMISERS[name]
    on_cuda = bool(params) and all(p.device.type == "cuda" for p in params)
    return spec.torch_class(params, lr=lr, **spec.defaults, **(spec.cuda if on_cuda else {}))


def flat_state(optimizer: torch.optim.Optimizer, params: list[Tensor]) -> dict[str, Tensor]:
    """A torch optimiser's per-parameter state, concatenated like `flatten`. Empty when fresh."""
    states = [optimizer.state.get(p, {}) for p in params]
    if not states[0]:
        return {}
    keys = [
        k for k, v in states[0].items() if torch.is_tensor(v) and v.numel() == params[0].numel()
    ]
    flat = {k: torch.cat([s[k].reshape(-1) for s in states]) for k in keys}
    return {**flat, "step": float(states[0]["step"])} if "step" in states[0] else flat


def step_direction(
    name: str, g: Tensor, theta: Tensor, state: Mapping[str, Tensor] | None = None
) -> Tensor:
    """d with Δθ = η d for optimiser `name` from flat g, θ (P,) and its flat state. Shape: (P,)."""
    opt = OPTIMISERS[name]
    return opt.direction(g, theta, state or {}, **opt.defaults)


# ---------------------------------------------------------------------------- flat θ


def trainable(model: torch.nn.Module) -> list[Tensor]:
    """θ: the trainable parameters, tied weights once, in `named_parameters` order."""
    return [p for p in model.parameters() if p.requires_grad]


def flatten(tensors: list[Tensor]) -> Tensor:
    """Concatenate θ-shaped tensors into one vector. Shape: (P,)."""
    return torch.cat([t.reshape(-1) for t in tensors])


def unflatten(vector: Tensor, like: list[Tensor]) -> list[Tensor]:
    """Inverse of `flatten` for tensors shaped as `like`."""
    return list(torch.split(vector, [t.numel() for t in like]))
