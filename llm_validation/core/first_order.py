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

The real step (`actual_step`) is one step of a fresh torch optimiser in fp32, unclipped (the
training loop's clipping only rescales g), with π_ref = π_θ₀ for losses with a reference. Its
Δ log π is measured with the fp32 weights cast exactly to float64 (`logps`), so that the comparison
at small η is not lost in fp32 evaluation round-off.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from llm_validation.core import entk
from llm_validation.core.directions import (
    flatten,
    make_optimizer,
    step_direction,
    trainable,
    unflatten,
)
from llm_validation.core.logprobs import Tokenized, collate, score, sequence_logps, token_statistics
from llm_validation.core.losses import PAIR, evaluate_loss, get_loss


def one_sequence(model: torch.nn.Module, item: Tokenized, pad_id: int) -> tuple[Tensor, ...]:
    """(input_ids, attention_mask, response_mask) of one unpadded sequence on the model's device."""
    device = next(model.parameters()).device
    return tuple(t.to(device) for t in collate([item], pad_id))


def logp_and_grads(
    model: torch.nn.Module, item: Tokenized, pad_id: int
) -> tuple[float, list[Tensor]]:
    """log π(y|x) and ∇θ log π(y|x) for one sequence (one forward + one backward), one gradient
    tensor per trainable parameter (zeros where log π does not depend on it)."""
    params = trainable(model)
    logp = sequence_logps(model, *one_sequence(model, item, pad_id))[0]
    grads = torch.autograd.grad(logp, params, allow_unused=True)
    grads = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params)]
    return float(logp.detach()), grads


def logp_and_grad(model: torch.nn.Module, item: Tokenized, pad_id: int) -> tuple[float, Tensor]:
    """`logp_and_grads` with the gradient flattened over θ. Grad: (P,)."""
    logp, grads = logp_and_grads(model, item, pad_id)
    return logp, flatten(grads)


def dot(a: list[Tensor], b: list[Tensor], chunk: int = 64) -> float:
    """⟨a, b⟩ = Σ_i a_i b_i over θ-shaped tensor lists, accumulated in float64.

    Products are summed in the tensors' dtype over chunks of `chunk` coordinates and the chunk sums
    in float64, so the error is ~chunk·ε₃₂·Σ|a_i b_i| at most (~1e-6) without a float64 copy
    of P-vectors; for P = 135M that copy cost half a forward + backward.
    """
    sums = []
    for x, y in zip(a, b):
        x, y = x.reshape(-1), y.reshape(-1)
        whole = x.numel() // chunk * chunk
        heads = torch.linalg.vecdot(x[:whole].view(-1, chunk), y[:whole].view(-1, chunk))
        sums += [heads.double().sum(), x[whole:].double() @ y[whole:].double()]
    return float(torch.stack(sums).sum())


@contextmanager
def weights_in_float64(model: torch.nn.Module):
    """The model with its weights cast to float64 for the duration, then back. fp32 → fp64 → fp32
    is exact, so the model that trains is unchanged; a log π evaluated inside carries none of
    fp32's ~1e-7 relative round-off (transformers' eager attention still takes its softmax in
    fp32, ~1e-8 relative). MPS has no float64: there the model stays as it is."""
    first = next(model.parameters())
    dtype = first.dtype
    model.to(first.dtype if first.device.type == "mps" else torch.float64)
    try:
        yield model
    finally:
        model.to(dtype)


@torch.no_grad()
def logps(model: torch.nn.Module, items: list[Tokenized], pad_id: int) -> np.ndarray:
    """log π(y|x) for each item, one unpadded sequence at a time, evaluated in float64 (the
    measured Δ log π = log π_θ₁ − log π_θ₀ of a real fp32 step is then free of evaluation
    round-off; the same arithmetic before and after, so padding cannot enter Δ). Shape: (N,)."""
    with weights_in_float64(model):
        out = [sequence_logps(model, *one_sequence(model, item, pad_id))[0] for item in items]
    return np.array([float(x) for x in out])


def loss_coefficients(
    loss: str,
    logp: Mapping[str, float],
    ref: Mapping[str, float],
    lengths: Mapping[str, int],
    hyper: Mapping[str, float],
    trained: str = "chosen",
) -> tuple[float, dict[str, float]]:
    """L_u and c_r = ∂L_u/∂ log π(y_r|x_u) per response type r, in closed form from the loss's
    registry entry (`simulator.LOSSES`). Inputs are keyed by response type; a pairwise loss reads
    chosen and rejected, a single-response loss (SFT) reads `trained`.

    The reference is π at the state the step starts from, so DPO's h = 0 and c_± = ∓β/2.
    """
    spec = get_loss(loss)
    types = dict(zip(PAIR, PAIR)) if spec.pairwise else {"y": trained}  # group → response type
    tensor = lambda table, r: torch.tensor([float(table[r])], dtype=torch.float64)
    value = evaluate_loss(
        loss,
        {g: tensor(logp, r) for g, r in types.items()},
        {g: tensor(lengths, r) for g, r in types.items()},
        {g: tensor(ref, r) for g, r in types.items()},
        **hyper,
    )
    return float(value.loss), {r: float(value.dlogp[g][0]) for g, r in types.items()}


# ------------------------------------------------------------------------- one step, both ways


@dataclass(frozen=True)
class StepPrediction:
    """First-order prediction for one update χ_u, per probe response of the same prompt.

    kinds: probe types; per_lr: ⟨∇θ log π(y|χ_o), d⟩, so Δ log π ≈ η · per_lr, Shape: (N,);
    loss, coef: L_u and c_r = ∂L_u/∂ log π(y_r|x_u); grad: g_u = ∇θ L_u, Shape: (P,).
    """

    kinds: tuple[str, ...]
    per_lr: np.ndarray
    loss: float
    coef: dict[str, float]
    grad: Tensor


def predict_steps(
    model: torch.nn.Module,
    items: Mapping[str, Tokenized],
    pad_id: int,
    methods: tuple[str, ...],
    optimizer: str,
    hyper: Mapping[str, float] | None = None,
) -> dict[str, StepPrediction]:
    """Δ log π per unit η for every probe in `items` (which holds the update's y⁺, y⁻ too), for
    one update under each loss in `methods`.

    Cost: one forward + backward per probe, shared by all methods; each update's gradient is
    Σ_r c_r ∇ log π(y_r) from the probes' own gradients (chain rule through the sequence
    log-probs). Memory: three gradient vectors plus one direction per method.
    """
    params = trainable(model)
    theta = flatten(params).detach()
    seen = {r: logp_and_grad(model, items[r], pad_id) for r in ("chosen", "rejected")}
    logp = {r: v[0] for r, v in seen.items()}
    lengths = {r: items[r].response_len for r in seen}
    updates = {}
    for method in methods:
        loss, coef = loss_coefficients(method, logp, logp, lengths, hyper or {})
        g_u = sum(c * seen[r][1] for r, c in coef.items())  # ∇θ L_u = Σ_r c_r ∇θ log π(y_r)
        d = unflatten(step_direction(optimizer, g_u, theta), params)  # θ-shaped views
        updates[method] = (loss, coef, g_u, d)
    per_lr = {method: [] for method in methods}
    for kind, item in items.items():
        if kind in seen:
            grads = unflatten(seen[kind][1], params)
        else:
            grads = logp_and_grads(model, item, pad_id)[1]
        for method, (_, _, _, d) in updates.items():
            per_lr[method].append(dot(grads, d))  # ⟨∇θ log π(y|χ_o), d⟩
    return {
        m: StepPrediction(tuple(items), np.array(per_lr[m]), loss, coef, g_u)
        for m, (loss, coef, g_u, _) in updates.items()
    }


def predict_step(
    model: torch.nn.Module,
    items: Mapping[str, Tokenized],
    pad_id: int,
    method: str,
    optimizer: str,
    hyper: Mapping[str, float] | None = None,
) -> StepPrediction:
    """`predict_steps` for one loss."""
    return predict_steps(model, items, pad_id, (method,), optimizer, hyper)[method]


def actual_step(
    model: torch.nn.Module,
    items: list[Tokenized],
    pad_id: int,
    grad: Tensor,
    optimizer: str,
    lr: float,
    before: np.ndarray,
) -> np.ndarray:
    """Δ log π = log π_{θ₁} − log π_{θ₀} after one real step of a fresh `optimizer` with gradient
    `grad` (P,); θ is restored afterwards. `before`: log π_{θ₀} from `logps`. Shape: (N,)."""
    params = trainable(model)
    saved = [p.detach().clone() for p in params]
    step = make_optimizer(optimizer, params, lr)
    for p, g in zip(params, unflatten(grad, params)):
        p.grad = g.view_as(p).clone()
    step.step()
    after = logps(model, items, pad_id)
    with torch.no_grad():
        for p, s in zip(params, saved):
            p.copy_(s)
            p.grad = None
    return after - before


# ----------------------------------------------------------------------------------- factors


def _residual_rows(model: torch.nn.Module, chi: entk.Chi) -> Tensor:
    """e_{y_l} − π_l at every response position of χ = ∂ log π(y|χ)/∂z_l. Shape: (L, V)."""
    with torch.no_grad():
        z = model(chi.input_ids[None]).logits[0, chi.positions]  # (L, V)
    onehot = torch.nn.functional.one_hot(chi.targets, z.shape[-1]).to(z.dtype)
    return onehot - torch.softmax(z, dim=-1)


def decomposed_change(
    model: torch.nn.Module,
    subset: entk.ParamSubset,
    chi_o: entk.Chi,
    terms: Mapping[str, tuple[entk.Chi, float]],
    precondition: Mapping[str, Tensor] | None = None,
) -> dict[str, Tensor]:
    """Per-position-pair contributions to Δ log π(y|χ_o) per unit η, one matrix per update term:

        −(e_{y_m} − π_m)ᵀ K_{m,l} G_l,   G_l = c_r (e_{y_l} − π_l),       each Shape: (M, L_r)

    terms: {response r: (χ_r, c_r)}. Summed over m, l and r this is the SGD (or, with P, the
    preconditioned) first-order change; on the subset `all` it equals `predict_step`'s value.
    """
    left = _residual_rows(model, chi_o)  # e_{y_m}ᵀ A_m = (e_{y_m} − π_m)ᵀ
    out = {}
    for r, (chi_u, c_r) in terms.items():
        g_r = c_r * _residual_rows(model, chi_u)  # G_l = c_r (e_{y_l} − π_l)
        out[r] = -entk.kernel_contract(model, subset, chi_o, chi_u, left, g_r, precondition)
    return out


@dataclass(frozen=True)
class SequenceView:
    """What the factors need from one forward of χ: head inputs h (L, d), ‖A_m‖_F (L,) and
    ‖e_{y_m} − π_m‖ (L,)."""

    chi: entk.Chi
    h: Tensor
    norm_a: Tensor
    dist: Tensor


def sequence_view(model: torch.nn.Module, chi: entk.Chi) -> SequenceView:
    """One forward of χ → its `SequenceView`; the norms come from `logprobs.token_statistics`."""
    h, logits = entk.head_inputs_and_logits(model, chi)  # (L, d), (T, V)
    stats = token_statistics(logits[chi.positions], chi.targets)  # position t scores token t + 1
    return SequenceView(chi, h, stats["a_frobenius"], stats["residual_norm"])


def probe_factors(
    model: torch.nn.Module,
    view_o: SequenceView,
    terms: Mapping[str, tuple[SequenceView, float]],
    subset: str = "unembed",
    n_probes: int = 2,
    seed: int = 0,
) -> dict:
    """The factors of Δ log π(y|χ_o) = −η Σ_{m,l} e_{y_m}ᵀ A_m K_{m,l} G_l, per position:

    norm_A (M,): ‖A_m‖_F; per update response r: coef c_r, norm_G (L_r,): ‖G_l‖ = |c_r|‖e_y − π_l‖,
    trace and norm (M, L_r): tr K_{m,l} and ‖K_{m,l}‖_F, exact in closed form for ``unembed``,
    else Hutchinson estimates from `n_probes` Rademacher vectors. These summarise K = J Jᵀ without a
    preconditioner; the preconditioned K_P = J P Jᵀ of RMSprop enters `decomposed_change`.
    """
    vocab = model.get_output_embeddings().weight.shape[0]
    out = {"a_frobenius": view_o.norm_a.tolist(), "terms": {}}
    gen = torch.Generator().manual_seed(seed)
    for r, (view_u, c_r) in terms.items():
        if subset == "unembed":
            s_o_u = entk.unembed_scalar(model, view_o.h, view_u.h)
            summary = entk.unembed_summaries(s_o_u, vocab)
        else:
            ps = entk.param_subset(model, subset)
            summary = entk.estimate_summaries(model, ps, view_o.chi, view_u.chi, n_probes, gen)
        out["terms"][r] = {
            "coef": c_r,
            "norm_G": (abs(c_r) * view_u.dist).tolist(),
            "trace": summary["trace"].tolist(),
            "norm": summary["norm"].tolist(),
        }
    return out


# ---------------------------------------------------------------------------- measurement


def roundoff_floor(
    model: torch.nn.Module, items: list[Tokenized], pad_id: int, single: np.ndarray
) -> float:
    """The noise floor of a measured Δ log π: 2 max |log π_batched − log π_single| at θ₀, both in
    float64 like `logps`.

    single: `logps(model, items, pad_id)`. The two evaluations differ only in padding and matrix
    blocking, so their gap is the round-off of one evaluation; a difference of two evaluations
    carries about twice that.
    """
    with weights_in_float64(model):
        batched = score(model, items, pad_id)["logp"]
    return float(2 * np.max(np.abs(batched - single)))


def forward_backward_seconds(model: torch.nn.Module, items: list[Tokenized], pad_id: int) -> float:
    """Mean wall time of one plain forward + backward of log π(y|x) over `items` (on CUDA, after
    the queued kernels finish)."""
    started = time.perf_counter()
    for item in items:
        sequence_logps(model, *one_sequence(model, item, pad_id))[0].backward()
    if next(model.parameters()).is_cuda:
        torch.cuda.synchronize()
    model.zero_grad(set_to_none=True)
    return (time.perf_counter() - started) / len(items)
