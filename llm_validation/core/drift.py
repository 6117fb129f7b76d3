"""How stable the eNTK is along a run, and how far the one-step picture predicts a trajectory.

The paper's Section 2 assumes that the relative influence of learning x_u on every other x_o
stays roughly stable, so that Δ log π = −η A K G accumulates into the curves. Two measurements:

Relative influence. The first-order change of probe p = (x_o, y_o) from one SGD step on
update u, per unit η, is (Eq. 5, sequence form)

    I[u, p] = −⟨∇θ log π(y_o|x_o), ∇θ L_u⟩,   ∇θ L_u = Σ_r c_r ∇θ log π(y_r|x_u),

with c_r = ∂L_u/∂ log π(y_r) at π_ref = π_θ (a fresh step from the current θ). Rows normalised to
unit length, Ĩ[u] = I[u]/‖I[u]‖, say where a step on u sends its effect; `drift` compares Ĩ_t with
Ĩ_0 (correlation, largest entry change). Per parameter subset: `all` (every trainable parameter)
and `unembed`, the output head alone in closed form, ∇_{W_U} log π(y|x) = Σ_l (e_{y_l} − π_l) h_lᵀ
(the head's own gradient, untied from an input embedding it may share).

Trajectory. Over an interval of S optimiser steps θ_0 → θ_S with steps Δθ_s, the actual change of
log π(y_p) is compared with (a) ⟨∇ log π(θ_0), θ_S − θ_0⟩, the stable-kernel prediction
(gradients fixed at the interval's start), and (b) Σ_s ⟨∇ log π(θ_s), Δθ_s⟩, first order per step
with no stability assumption. (a) = (b) at S = 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from llm_validation.core.directions import flatten, trainable
from llm_validation.core.first_order import loss_coefficients, one_sequence
from llm_validation.core.logprobs import Tokenized, at_least_fp32

SUBSETS = ("all", "unembed")  # as `entk.param_subset`: unembed = W_U (+ b_U), untied


@dataclass(frozen=True)
class SequenceGradient:
    """log π(y|x) and its gradients as flat vectors: over every trainable parameter, Shape (P,),
    and over the untied output head, W_U then b_U if present, Shape (V·d [+ V],)."""

    logp: float
    all: Tensor
    unembed: Tensor

    def scaled(self, c: float) -> SequenceGradient:
        return SequenceGradient(c * self.logp, c * self.all, c * self.unembed)

    def __add__(self, other: SequenceGradient) -> SequenceGradient:
        return SequenceGradient(
            self.logp + other.logp, self.all + other.all, self.unembed + other.unembed
        )


def sequence_gradient(model: torch.nn.Module, item: Tokenized, pad_id: int) -> SequenceGradient:
    """One forward + one backward: log π(y|x), ∇θ log π over all trainable parameters, and the
    head's closed form Σ_l (e_{y_l} − π_l) h_lᵀ from the hidden states entering the head."""
    head = model.get_output_embeddings()
    captured = {}
    hook = head.register_forward_hook(lambda m, args, out: captured.update(h=args[0]))  # → None
    ids, attention, response = one_sequence(model, item, pad_id)
    try:
        logits = model(input_ids=ids, attention_mask=attention).logits[0, :-1]  # (T−1, V)
    finally:
        hook.remove()
    positions = response[0, 1:]  # (T−1,) which logits predict a response token
    z = at_least_fp32(logits[positions])  # (L, V)
    targets = ids[0, 1:][positions]  # (L,)
    logp_all = torch.log_softmax(z, -1)
    logp = logp_all.gather(-1, targets[:, None]).sum()
    params = trainable(model)
    grads = torch.autograd.grad(logp, params, allow_unused=True)
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
    with torch.no_grad():
        residual = -logp_all.exp()  # e_y − π, built in place: (L, V)
        residual[torch.arange(len(targets)), targets] += 1
        h = captured["h"][0, :-1][positions].to(residual.dtype)  # (L, d)
        parts = [(residual.T @ h).reshape(-1)]  # W_U: (V, d), flattened
        if head.bias is not None:
            parts.append(residual.sum(0))  # b_U: (V,)
    return SequenceGradient(float(logp.detach()), flatten(grads), torch.cat(parts))


def update_gradient(
    model: torch.nn.Module,
    items: Mapping[str, Tokenized],
    pad_id: int,
    loss: str,
    hyper: Mapping[str, float] | None = None,
) -> SequenceGradient:
    """∇θ L_u = Σ_r c_r ∇θ log π(y_r|x_u) for one update (its y⁺, y⁻ in `items`), c_r in closed
    form at π_ref = π_θ; `logp` holds L_u's first-order proxy Σ_r c_r log π(y_r)."""
    seen = {r: sequence_gradient(model, items[r], pad_id) for r in ("chosen", "rejected")}
    logp = {r: g.logp for r, g in seen.items()}
    lengths = {r: items[r].response_len for r in seen}
    _, coef = loss_coefficients(loss, logp, logp, lengths, hyper or {})
    terms = [seen[r].scaled(c) for r, c in coef.items()]
    return sum(terms[1:], terms[0])


def stacked(updates: list[SequenceGradient], subset: str) -> Tensor:
    """The updates' gradients over `subset` as rows, for `kernel_entries`. Shape: (K, ·)."""
    return torch.stack([getattr(u, subset) for u in updates])


def kernel_entries(probe: SequenceGradient, updates: Tensor, subset: str) -> Tensor:
    """⟨∇ log π_probe, ∇ L_u⟩ over `subset` for every update (rows of `stacked(…, subset)`): the
    sequence-level eNTK entries, one matrix-vector product in fp32 (relative error ~1e-6, far
    below the drift it measures). Shape: (K,)."""
    return updates @ getattr(probe, subset)


def row_normalised(m: np.ndarray) -> np.ndarray:
    """Each row over its Euclidean norm (zero rows stay zero). Shape: as m."""
    norm = np.linalg.norm(m, axis=1, keepdims=True)
    return np.divide(m, norm, out=np.zeros_like(m), where=norm > 0)


def drift(start: np.ndarray, now: np.ndarray) -> dict[str, float]:
    """How far the relative-influence matrix moved: the correlation of Ĩ_now with Ĩ_start (over
    all entries) and the largest |Ĩ_now − Ĩ_start| (rows are unit vectors, so ≤ 2)."""
    a, b = row_normalised(start).ravel(), row_normalised(now).ravel()
    corr = float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else float("nan")
    return {"correlation": corr, "max_change": float(np.abs(b - a).max())}
