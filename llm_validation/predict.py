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

import csv
import json
import sys
import time
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from llm_validation import entk
from llm_validation.cli import add_shared_args
from llm_validation.data import PROBE_TYPES, load_examples
from llm_validation.errors import UserError
from llm_validation.logprobs import (
    Tokenized,
    Truncation,
    collate,
    score,
    sequence_logps,
    token_statistics,
    tokenize_example,
)
from llm_validation.losses import LOSSES, PairScores, get_loss
from llm_validation.models import load_model
from llm_validation.runtime import seed_everything
from llm_validation.train import OPTIMIZERS

# ---------------------------------------------------------------------------------- optimisers


@dataclass(frozen=True)
class Optimiser:
    """An optimiser's step direction d (Δθ = η d(g, θ, state)) and the hyper-parameters it shares
    with the torch optimiser of the same name in `train.OPTIMIZERS` (torch's defaults, spelled out)."""

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
    "sgd": Optimiser(sgd_direction),
    "rmsprop": Optimiser(rmsprop_direction, {"alpha": 0.99, "eps": 1e-8}),
    "adamw": Optimiser(adamw_direction, {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01}),
}


def make_optimizer(name: str, params: list[Tensor], lr: float) -> torch.optim.Optimizer:
    """The training loop's torch optimiser `name` with the hyper-parameters `step_direction` uses."""
    return OPTIMIZERS[name](params, lr=lr, **OPTIMISERS[name].defaults)


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
    return float(logp.detach()), flatten(
        [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params)]
    )


@contextmanager
def weights_in_float64(model: torch.nn.Module):
    """The model with its weights cast to float64 for the duration, then back. fp32 → fp64 → fp32
    is exact, so the model that trains is unchanged; a log π evaluated inside carries none of
    fp32's ~1e-7 relative round-off (transformers' eager attention still takes its softmax in
    fp32, ~1e-8 relative)."""
    dtype = next(model.parameters()).dtype
    model.to(torch.float64)
    try:
        yield model
    finally:
        model.to(dtype)


@torch.no_grad()
def logps(model: torch.nn.Module, items: list[Tokenized], pad_id: int) -> np.ndarray:
    """log π(y|x) for each item, one unpadded sequence at a time, evaluated in float64 (the
    measured Δ log π = log π_θ₁ − log π_θ₀ of a real fp32 step is then free of evaluation
    round-off; the same arithmetic before and after, so padding cannot enter Δ). Shape: (N,)."""
    device = next(model.parameters()).device
    out = []
    with weights_in_float64(model):
        for item in items:
            ids, attention, response = (t.to(device) for t in collate([item], pad_id))
            out.append(float(sequence_logps(model, ids, attention, response)[0]))
    return np.array(out)


def loss_coefficients(
    method: str,
    logp: Mapping[str, float],
    ref: Mapping[str, float],
    lengths: Mapping[str, int],
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
    return float(loss.detach()), {r: float(g) for r, g in zip(names, grads)}


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
    theta = flatten(trainable(model)).detach()
    seen = {r: logp_and_grad(model, items[r], pad_id) for r in ("chosen", "rejected")}
    logp = {r: v[0] for r, v in seen.items()}
    lengths = {r: items[r].response_len for r in seen}
    updates = {}
    for method in methods:
        loss, coef = loss_coefficients(method, logp, logp, lengths, hyper or {})
        g_u = sum(c * seen[r][1] for r, c in coef.items())  # ∇θ L_u = Σ_r c_r ∇θ log π(y_r)
        d = step_direction(optimizer, g_u, theta).double()  # float64 for the dot products over P
        updates[method] = (loss, coef, g_u, d)
    per_lr = {method: [] for method in methods}
    for kind, item in items.items():
        grad = (seen[kind][1] if kind in seen else logp_and_grad(model, item, pad_id)[1]).double()
        for method, (_, _, _, d) in updates.items():
            per_lr[method].append(float(grad @ d))  # ⟨∇θ log π(y|χ_o), d⟩
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
    return SequenceView(chi, h, stats["norm_A"], stats["dist_onehot"])


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
    out = {"norm_A": view_o.norm_a.tolist(), "terms": {}}
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


# ----------------------------------------------------------------------------------- metrics


def pearson_r(pred: np.ndarray, actual: np.ndarray) -> float:
    """Pearson correlation of predicted and actual Δ log π; nan when either is constant."""
    if len(pred) < 2 or np.std(pred) == 0 or np.std(actual) == 0:
        return float("nan")
    return float(np.corrcoef(pred, actual)[0, 1])


def sign_agreement(pred: np.ndarray, actual: np.ndarray, floor: float = 0.0) -> float:
    """Fraction of probes with |actual| > floor whose predicted change has the actual's sign."""
    keep = np.abs(actual) > floor
    return (
        float(np.mean(np.sign(pred[keep]) == np.sign(actual[keep]))) if keep.any() else float("nan")
    )


def relative_error(pred: np.ndarray, actual: np.ndarray) -> float:
    """‖pred − actual‖₂ / ‖actual‖₂ over the probes."""
    return float(np.linalg.norm(pred - actual) / np.linalg.norm(actual))


def summarize(pred: np.ndarray, actual: np.ndarray, floor: float = 0.0) -> dict:
    """r, sign agreement (all probes, and those above the noise floor), relative error, the mean
    predicted and actual Δ log π, and the count."""
    return {
        "pearson_r": pearson_r(pred, actual),
        "sign_agreement": sign_agreement(pred, actual),
        "sign_agreement_above_floor": sign_agreement(pred, actual, floor),
        "relative_error": relative_error(pred, actual),
        "mean_predicted": float(np.mean(pred)),
        "mean_actual": float(np.mean(actual)),
        "n": int(len(pred)),
    }


def error_slope(lrs: np.ndarray, errors: np.ndarray) -> float:
    """d log(relative error) / d log η by least squares: ≈ 1 when the error is O(η²)/O(η)."""
    return float(np.polyfit(np.log(lrs), np.log(errors), 1)[0])


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


# -------------------------------------------------------------------------------- experiment

ADAMW_NOTE = (
    "adamw: a fresh AdamW's first step is Δθ = −η(g/(|g| + ε) + λθ) ≈ −η(sign(g) + λθ). The "
    "prediction uses that direction, so it is exact to first order in η, but P = 1/(|g| + ε) depends "
    "on the update's own gradient: no fixed kernel, effects of examples do not add, and every "
    "coordinate moves by ≈ η (‖Δθ‖ ≈ η√P), so the first-order regime needs a far smaller η than SGD."
)
SWEEP = (1 / 8, 1 / 4, 1 / 2, 1.0, 2.0, 4.0)  # --lr-sweep: multiples of --lr


@dataclass(frozen=True)
class PredictConfig:
    """`predict`: K updates, each one real fp32 step from the same θ₀, against the first-order
    prediction for every probe response of the update's prompt."""

    model: str = "tiny-neox"  # embedded name, local folder or cached hub name
    data: str = "synthetic"  # probe/preference JSONL or `synthetic`
    method: str = "sft"  # a loss of `losses.LOSSES`
    optimizer: str = "sgd"  # sgd, rmsprop or adamw (fresh state: its first step)
    lr: float = 1e-3  # η
    steps: int = 8  # K updates (examples), each one step from θ₀
    limit: int | None = None  # the shared --limit: at most this many examples (caps K)
    lr_sweep: bool = False  # also step with η × SWEEP and fit the error's slope in η
    probe_types: str | None = None  # comma-separated probe types (default: all present)
    beta: float | None = None  # β of dpo-like losses (default: the loss's)
    factors: str = "unembed"  # kernel subset of the factor report: unembed, all, last:K, none
    kernel_probes: int = 2  # Rademacher vectors per kernel summary (subsets other than unembed)
    max_length: int = 512  # prompt + response tokens (paper: 512)
    max_prompt_length: int = 256  # prompt tokens kept when truncating (paper: 256)
    strict: bool = False  # stop at the first malformed line
    seed: int = 0  # model init (tiny models) and kernel probes
    out: str | None = None  # output folder (default runs/predict-<method>-<optimizer>-<model>)
    json: bool = False  # print one JSON object instead of a table

    def run_dir(self) -> Path:
        if self.out:
            return Path(self.out)
        data = "synthetic" if self.data == "synthetic" else Path(self.data).stem
        name = f"predict-{self.method}-{self.optimizer}-{Path(self.model).name}-{data}"
        return Path("runs") / name


def _chi(item: Tokenized) -> entk.Chi:
    return entk.Chi.from_ids(item.ids, item.prompt_len)


def forward_backward_seconds(model: torch.nn.Module, items: list[Tokenized], pad_id: int) -> float:
    """Mean wall time of one plain forward + backward of log π(y|x) over `items`."""
    started = time.perf_counter()
    for item in items:
        ids, attention, response = collate([item], pad_id)
        sequence_logps(model, ids, attention, response)[0].backward()
    model.zero_grad(set_to_none=True)
    return (time.perf_counter() - started) / len(items)


def run_update(model, tokenizer, example, cfg: PredictConfig, lrs, truncation) -> tuple[list, dict]:
    """One update χ_u: predicted and actual Δ for every probe and η → (rows, timing + factors)."""
    pad = tokenizer.eos_token_id
    types = cfg.probe_types.split(",") if cfg.probe_types else PROBE_TYPES
    wanted = {t: example.responses[t] for t in types if t in example.responses}
    wanted.update({r: example.responses[r] for r in ("chosen", "rejected")})
    items = tokenize_example(tokenizer, example.prompt, wanted, truncation)
    hyper = {} if cfg.beta is None else {"beta": cfg.beta}
    started = time.perf_counter()
    pred = predict_step(model, items, pad, cfg.method, cfg.optimizer, hyper)
    seconds = time.perf_counter() - started
    seq = list(items.values())
    forward_backward = forward_backward_seconds(model, seq, pad)  # right after, same load
    before = logps(model, seq, pad)
    rows = []
    for lr in lrs:
        actual = actual_step(model, seq, pad, pred.grad, cfg.optimizer, lr, before)
        for kind, p, a in zip(pred.kinds, pred.per_lr, actual):
            rows.append({"probe_type": kind, "lr": lr, "predicted": lr * p, "actual": a})
    factors = {}
    if cfg.factors != "none":
        views = {kind: sequence_view(model, _chi(item)) for kind, item in items.items()}
        terms = {r: (views[r], c) for r, c in pred.coef.items()}
        for kind in items:
            f = probe_factors(model, views[kind], terms, cfg.factors, cfg.kernel_probes, cfg.seed)
            factors[kind] = f
            for row in rows:
                if row["probe_type"] == kind:
                    row.update(_factor_columns(f))
    info = {
        "predict_seconds": seconds,
        "forward_backward_seconds": forward_backward,
        "n_probes": len(seq),
        "floor": roundoff_floor(model, seq, pad, before),
        "loss": pred.loss,
        "coef": pred.coef,
        "factors": factors,
    }
    return rows, info


def _factor_columns(f: dict) -> dict[str, float]:
    """Scalar summaries of `probe_factors` for the CSV: means over positions and pairs."""
    cols = {"mean_norm_A": float(np.mean(f["norm_A"]))}
    for r, t in f["terms"].items():
        cols[f"coef_{r}"] = t["coef"]
        cols[f"mean_norm_G_{r}"] = float(np.mean(t["norm_G"]))
        cols[f"mean_trace_K_{r}"] = float(np.mean(t["trace"]))
        cols[f"mean_norm_K_{r}"] = float(np.mean(t["norm"]))
    return cols


def main(cfg: PredictConfig) -> dict:
    """Run `predict`; write config.json, predictions.csv, summary.json, factors.json, scatter.png
    under `cfg.run_dir()` and return the summary."""
    if cfg.optimizer not in OPTIMISERS:
        raise UserError(f"unknown optimizer {cfg.optimizer!r}; choose from {', '.join(OPTIMISERS)}")
    if cfg.method not in LOSSES:
        raise UserError(f"unknown method {cfg.method!r}; choose from {', '.join(LOSSES)}")
    seed_everything(cfg.seed)
    model, tokenizer = load_model(cfg.model, seed=cfg.seed)  # fp32, cpu, eager attention
    count = cfg.steps if cfg.limit is None else min(cfg.steps, cfg.limit)
    examples, _ = load_examples(cfg.data, strict=cfg.strict, limit=count, seed=cfg.seed)
    truncation = Truncation(cfg.max_length, cfg.max_prompt_length)
    lrs = tuple(cfg.lr * f for f in SWEEP) if cfg.lr_sweep else (cfg.lr,)
    rows, infos = [], []
    for u, example in enumerate(examples[:count]):
        update_rows, info = run_update(model, tokenizer, example, cfg, lrs, truncation)
        rows += [{"update": u, **row} for row in update_rows]
        infos.append(info)
        base = [r for r in update_rows if r["lr"] == cfg.lr]
        print(
            f"update {u + 1}/{len(examples)}: {info['n_probes']} probes, Δ log π(chosen) "
            f"predicted {base[0]['predicted']:+.3e} actual {base[0]['actual']:+.3e}, "
            f"{info['predict_seconds']:.1f} s to predict",
            file=sys.stderr,
            flush=True,
        )
    summary = _summary(rows, infos, cfg, lrs)
    _write(cfg, rows, summary, infos[0]["factors"])
    return summary


def _summary(rows, infos, cfg: PredictConfig, lrs) -> dict:
    floor = max(i["floor"] for i in infos)
    base = [r for r in rows if r["lr"] == cfg.lr]
    pred, actual = (np.array([r[k] for r in base]) for k in ("predicted", "actual"))
    kinds = np.array([r["probe_type"] for r in base])
    per_probe = [i["predict_seconds"] / i["n_probes"] for i in infos]
    ratio = [p / i["forward_backward_seconds"] for p, i in zip(per_probe, infos)]
    out = {
        **summarize(pred, actual, floor),
        "noise_floor": floor,
        "lr": cfg.lr,
        "updates": len(infos),
        "per_type": {
            k: summarize(pred[kinds == k], actual[kinds == k], floor) for k in dict.fromkeys(kinds)
        },
        "seconds_per_probe_prediction": float(np.median(per_probe)),
        "seconds_forward_backward": float(
            np.median([i["forward_backward_seconds"] for i in infos])
        ),
        "cost_per_probe_vs_forward_backward": float(np.median(ratio)),  # per update, then median
        "mean_abs_actual": float(np.mean(np.abs(actual))),
    }
    if cfg.optimizer == "adamw":
        out["note"] = ADAMW_NOTE
    if len(lrs) > 1:
        errors = []
        for lr in lrs:
            sel = [r for r in rows if r["lr"] == lr]
            errors.append(
                relative_error(*(np.array([r[k] for r in sel]) for k in ("predicted", "actual")))
            )
        local = np.diff(np.log(errors)) / np.diff(np.log(lrs))  # slope between neighbours
        out["lr_sweep"] = {
            "lr": list(lrs),
            "relative_error": errors,
            "slope_log_error_vs_log_lr": error_slope(np.array(lrs), np.array(errors)),
            "local_slopes": local.tolist(),
        }
    return out


def _write(cfg: PredictConfig, rows: list[dict], summary: dict, factors: dict) -> Path:
    out = cfg.run_dir()
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "factors.json").write_text(json.dumps({"update": 0, "probes": factors}))
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with (out / "predictions.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    plot(rows, summary, cfg).savefig(out / "scatter.png", dpi=120, bbox_inches="tight")
    return out


def plot(rows: list[dict], summary: dict, cfg: PredictConfig):
    """Predicted vs actual Δ log π at η (one colour per probe type, the line y = x), and with
    `--lr-sweep` the relative error against η beside a slope-1 guide."""
    import matplotlib
    import matplotlib.ticker
    from matplotlib.figure import Figure

    sweep = "lr_sweep" in summary
    fig = Figure(figsize=(10 if sweep else 5.5, 4.5))
    ax = fig.add_subplot(1, 2 if sweep else 1, 1)
    base = [r for r in rows if r["lr"] == cfg.lr]
    kinds = list(dict.fromkeys(r["probe_type"] for r in base))
    colors = matplotlib.colormaps["tab20"].colors  # 13 probe types: more than the default 10
    for kind, color in zip(kinds, colors):
        sel = [r for r in base if r["probe_type"] == kind]
        xy = [r["predicted"] for r in sel], [r["actual"] for r in sel]
        ax.scatter(*xy, s=14, color=color, label=kind)
    lim = max(abs(r[k]) for r in base for k in ("predicted", "actual"))
    ax.plot([-lim, lim], [-lim, lim], color="black", lw=0.8)
    ax.set_xlabel("predicted Δ log π (first order)")
    ax.set_ylabel("actual Δ log π (one step)")
    ax.set_title(f"{cfg.method}/{cfg.optimizer}, η={cfg.lr:g}: r={summary['pearson_r']:.4f}")
    ax.legend(fontsize=6, ncol=2)
    if sweep:
        ax2 = fig.add_subplot(1, 2, 2)
        lrs, errs = summary["lr_sweep"]["lr"], summary["lr_sweep"]["relative_error"]
        ax2.loglog(lrs, errs, "o-", label="relative error")
        ax2.loglog(lrs, [errs[-1] * lr / lrs[-1] for lr in lrs], "k--", lw=0.8, label="∝ η")
        ax2.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax2.set_xlabel("η")
        ax2.set_ylabel("‖pred − actual‖ / ‖actual‖")
        ax2.legend()
    return fig


def register(subparsers) -> None:
    """`python -m llm_validation predict`: flags from `PredictConfig` (see `cli.py`)."""
    parser = subparsers.add_parser(
        "predict", help="first-order Δ log π (eNTK) against real optimiser steps"
    )
    add_shared_args(parser, probes=False, model_default=PredictConfig.model)
    parser.add_argument("--method", default="sft", choices=tuple(LOSSES), help="the update's loss")
    parser.add_argument(
        "--optimizer",
        default="sgd",
        choices=tuple(OPTIMISERS),
        help="fresh optimiser: its first step (adamw's is ≈ −η sign(g))",
    )
    parser.add_argument("--lr", type=float, default=1e-3, help="learning rate η")
    parser.add_argument(
        "--steps",
        type=int,
        default=8,
        help="K updates (the first K examples), each one step from the same θ₀",
    )
    parser.add_argument(
        "--lr-sweep",
        action="store_true",
        help="also step with η × (1/8 … 4) and report the error's slope in η",
    )
    parser.add_argument("--probe-types", default=None, help="comma-separated probe types")
    parser.add_argument("--beta", type=float, default=None, help="β of dpo-like losses")
    parser.add_argument(
        "--factors",
        default="unembed",
        help="kernel subset for the factor report: unembed (closed form), all, "
        "last:K (Hutchinson estimates) or none",
    )
    parser.add_argument(
        "--kernel-probes",
        type=int,
        default=2,
        help="Rademacher vectors per kernel summary (subsets other than unembed)",
    )
    parser.add_argument("--max-length", type=int, default=512, help="paper: 512")
    parser.add_argument("--max-prompt-length", type=int, default=256, help="paper: 256")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object (pearson_r, sign_agreement, relative_error, …)",
    )
    parser.set_defaults(handler=_run)


def _run(args) -> int:
    names = {f.name for f in fields(PredictConfig)}
    cfg = PredictConfig(**{k: v for k, v in vars(args).items() if k in names})
    summary = main(cfg)
    if cfg.json:
        print(json.dumps({k: v for k, v in summary.items()}))
        return 0
    print(
        f"{'probe type':<20} {'n':>4} {'mean pred':>10} {'mean act':>10} {'r':>8} {'sign':>6} "
        f"{'rel.err':>8}"
    )
    for kind, s in {**summary["per_type"], "all": summary}.items():
        print(
            f"{kind:<20} {s['n']:>4} {s['mean_predicted']:>+10.3e} {s['mean_actual']:>+10.3e} "
            f"{s['pearson_r']:>8.4f} {s['sign_agreement']:>6.3f} {s['relative_error']:>8.4f}"
        )
    print(
        f"noise floor {summary['noise_floor']:.2e}; sign agreement above it "
        f"{summary['sign_agreement_above_floor']:.3f}; cost per probe "
        f"{summary['cost_per_probe_vs_forward_backward']:.2f}× one forward+backward"
    )
    if "lr_sweep" in summary:
        sweep = summary["lr_sweep"]
        for lr, err in zip(sweep["lr"], sweep["relative_error"]):
            print(f"η = {lr:.3g}: relative error {err:.4f}")
        print(
            f"slope of log error vs log η: {sweep['slope_log_error_vs_log_lr']:.2f} (between "
            f"neighbours: {', '.join(f'{x:.2f}' for x in sweep['local_slopes'])})"
        )
    if cfg.optimizer == "adamw":
        print(ADAMW_NOTE)
    print(f"wrote {cfg.run_dir()}/")
    return 0
