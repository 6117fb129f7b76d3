"""Empirical NTK between two teacher-forced sequences, position by position (paper §3, Eq. 5).

For a teacher-forced sequence χ = (x, y) the model emits logits z_m(χ) ∈ R^V at every response
position m. With J_m(χ) = ∂z_m/∂θ the V×P Jacobian over a chosen parameter subset θ,

    K(χ_o, χ_u)_{m,l} = J_m(χ_o) J_l(χ_u)ᵀ ∈ R^{V×V}            (the eNTK block, Eq. 5)

and one SGD step on χ_u moves the logits of χ_o by Δz_m = −η Σ_l K_{m,l} G_l + O(η²), hence
Δ log π_m = −η A_m Σ_l K_{m,l} G_l with A_m = I − 1 π_mᵀ (Eq. 5).

Three implementations of the same kernel:
- (a) `entk_explicit`: materialises J (L×V×P) with `jacrev` and contracts it. The oracle; small
  models only.
- (b) `kernel_columns`: K_{m,l} c_l for given cotangents c (L×V) by one vjp and one jvp per
  position l; never forms a V×P Jacobian, memory O(P + M·V). `entk_implicit` stacks it over a
  basis when the V×V blocks are asked for.
- (c) `entk_unembed`: for the unembedding subset {W_U, b_U}, z_m = W_U h_m + b_U gives
  K_{m,l} = (h_mᵀ h_l + 1_b) I_V, a scalar per position pair.

Parameter subsets (`param_subset`): ``all``, ``last:K`` (the last K transformer blocks),
``unembed`` (the output head, untied from the input embedding) and ``lora`` (peft adapters).
Forward-mode AD needs eager attention (torch.func.jvp has no rule for CPU SDPA kernels), and
vmap over SDPA's backward falls back to a slow loop: `kernel_columns`, `kernel_contract` and
`jacobian` switch a model to eager attention while they run (`eager_attention`); models load
with SDPA for scoring and training.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.func import functional_call, jacrev, jvp, vjp

from common.errors import UserError


@contextlib.contextmanager
def eager_attention(model: torch.nn.Module) -> Iterator[None]:
    """`model` with eager attention inside the block, its own implementation restored after
    (transformers reads `config._attn_implementation` at every forward)."""
    before = getattr(getattr(model, "config", None), "_attn_implementation", None)
    if before in (None, "eager") or not hasattr(model, "set_attn_implementation"):
        yield
        return
    model.set_attn_implementation("eager")
    try:
        yield
    finally:
        model.set_attn_implementation(before)


@dataclass(frozen=True)
class Chi:
    """A teacher-forced sequence χ = (x, y).

    input_ids: (T,) the prompt followed by the response.
    positions: (L,) rows of the logits that predict the response tokens (t predicts t + 1).
    targets:   (L,) the response tokens y_1..y_L, i.e. input_ids[positions + 1].
    """

    input_ids: Tensor
    positions: Tensor
    targets: Tensor

    @classmethod
    def from_ids(cls, ids, prompt_len: int, device: torch.device | str = "cpu") -> Chi:
        """χ from the token ids of x followed by y (as `logprobs.Tokenized`), 1 ≤ prompt_len < T,
        on the model's `device`."""
        input_ids = torch.as_tensor(ids, dtype=torch.long, device=device)
        positions = torch.arange(prompt_len - 1, input_ids.numel() - 1, device=device)
        return cls(input_ids, positions, input_ids[prompt_len:])


@dataclass(frozen=True)
class ParamSubset:
    """The parameters θ that the Jacobian J = ∂z/∂θ is taken over.

    names: module-path names accepted by `functional_call`.
    tie_weights: False only for ``unembed``, so that the output head is perturbed without the
    input embedding it may be tied to (SmolLM2 ties them).
    """

    names: tuple[str, ...]
    tie_weights: bool = True


def _blocks(model: torch.nn.Module) -> tuple[str, torch.nn.ModuleList]:
    """The name and list of the transformer blocks (the longest ModuleList in the model)."""
    lists = [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.ModuleList)]
    if not lists:
        raise UserError(f"{type(model).__name__} has no list of transformer blocks")
    return max(lists, key=lambda nm: len(nm[1]))


def param_subset(model: torch.nn.Module, spec: str) -> ParamSubset:
    """θ for `spec` ∈ {``all``, ``last:K``, ``unembed``, ``lora``}.

    ``all``: every trainable parameter, tied weights once. ``last:K``: parameters of the last K
    transformer blocks. ``unembed``: W_U (and b_U) of the output head, untied. ``lora``: the
    adapter matrices that peft inserts (names containing ``lora_``).
    """
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    if spec == "all":
        return ParamSubset(tuple(trainable))
    if spec == "unembed":
        head = model.get_output_embeddings()
        prefix = next(n for n, m in model.named_modules() if m is head)
        names = [f"{prefix}.{n}" for n, _ in head.named_parameters(remove_duplicate=False)]
        return ParamSubset(tuple(names), tie_weights=False)
    if spec == "lora":
        names = tuple(n for n in trainable if "lora_" in n)
        if not names:
            raise UserError("subset 'lora' needs a peft model with LoRA adapters")
        return ParamSubset(names)
    if spec.startswith("last:"):
        k = int(spec.split(":", 1)[1])
        prefix, blocks = _blocks(model)
        if not 1 <= k <= len(blocks):
            raise UserError(f"last:{k} needs 1 ≤ k ≤ {len(blocks)} blocks")
        keep = tuple(f"{prefix}.{i}." for i in range(len(blocks) - k, len(blocks)))
        return ParamSubset(tuple(n for n in trainable if n.startswith(keep)))
    raise UserError(f"unknown parameter subset {spec!r}; use all, last:K, unembed or lora")


def subset_values(model: torch.nn.Module, subset: ParamSubset) -> dict[str, Tensor]:
    """θ's current values, detached: the primals for vjp / jvp / jacrev."""
    table = dict(model.named_parameters(remove_duplicate=False))
    return {n: table[n].detach() for n in subset.names}


def response_logits(
    model: torch.nn.Module, subset: ParamSubset, theta: Mapping[str, Tensor], chi: Chi
) -> Tensor:
    """z(χ; θ) at the response positions, as a function of the subset θ. Shape: (L, V)."""
    out = functional_call(
        model, dict(theta), (chi.input_ids[None],), tie_weights=subset.tie_weights
    )
    return out.logits[0, chi.positions]  # (L, V)


def jacobian(model: torch.nn.Module, subset: ParamSubset, chi: Chi) -> Tensor:
    """J(χ) = ∂z_m/∂θ for every response position, flattened over θ. Shape: (L, V, P)."""
    theta = subset_values(model, subset)
    with eager_attention(model):
        jac = jacrev(lambda th: response_logits(model, subset, th, chi))(theta)
    length, vocab = chi.positions.numel(), jac[subset.names[0]].shape[1]
    return torch.cat([jac[n].reshape(length, vocab, -1) for n in subset.names], dim=-1)


def entk_explicit(model: torch.nn.Module, subset: ParamSubset, chi_o: Chi, chi_u: Chi) -> Tensor:
    """(a) K(χ_o, χ_u)_{m,l} = J_m(χ_o) J_l(χ_u)ᵀ by explicit Jacobians. Shape: (M, L, V, V).

    The oracle: memory O((M + L)·V·P), small models only.
    """
    j_o, j_u = jacobian(model, subset, chi_o), jacobian(model, subset, chi_u)
    return torch.einsum("mvp,lwp->mlvw", j_o, j_u)  # Eq. 5


def _columns(
    model: torch.nn.Module,
    subset: ParamSubset,
    chi_o: Chi,
    chi_u: Chi,
    cotangents: Tensor,
    precondition: Mapping[str, Tensor] | None,
):
    """Yield K_{:,l} c_l = J(χ_o) P J_l(χ_u)ᵀ c_l for l = 1..L, each Shape: (M, V)."""
    theta = subset_values(model, subset)
    z_u, pull = vjp(lambda th: response_logits(model, subset, th, chi_u), theta)
    f_o = lambda th: response_logits(model, subset, th, chi_o)
    for pos in range(chi_u.positions.numel()):
        onehot = torch.zeros_like(z_u)
        onehot[pos] = cotangents[pos]
        (tangent,) = pull(onehot)  # J_l(χ_u)ᵀ c_l, a θ-shaped dict
        if precondition is not None:
            tangent = {n: precondition[n] * t for n, t in tangent.items()}  # P J_lᵀ c_l
        yield jvp(f_o, (theta,), (tangent,))[1]  # (M, V)


def kernel_columns(
    model: torch.nn.Module,
    subset: ParamSubset,
    chi_o: Chi,
    chi_u: Chi,
    cotangents: Tensor,
    precondition: Mapping[str, Tensor] | None = None,
) -> Tensor:
    """(b) K_{m,l} c_l for every position pair, without a V×P Jacobian. Shape: (M, L, V).

    cotangents c: (L, V), one direction per position of χ_u (G_l, or a probe vector). For each l,
    a vjp gives J_l(χ_u)ᵀ c_l ∈ R^P and a jvp pushes it through χ_o: J(χ_o) J_l(χ_u)ᵀ c_l. Cost:
    one forward of χ_u, L backwards and L forward-mode passes of χ_o; memory O(P + M·L·V).
    precondition: the diagonal of P (θ-shaped) for K_P = J_o P J_uᵀ (RMSprop, Adam); None is I.
    """
    with eager_attention(model):
        cols = list(_columns(model, subset, chi_o, chi_u, cotangents, precondition))
    return torch.stack(cols, dim=1)  # (M, L, V)


def kernel_contract(
    model: torch.nn.Module,
    subset: ParamSubset,
    chi_o: Chi,
    chi_u: Chi,
    left: Tensor,
    right: Tensor,
    precondition: Mapping[str, Tensor] | None = None,
) -> Tensor:
    """(b) a_mᵀ K_{m,l} c_l for every position pair. Shape: (M, L).

    left a: (M, V), e.g. (e_{y_m} − π_m) = A_mᵀ e_{y_m}; right c: (L, V), e.g. G_l. Each column is
    reduced as soon as it is made: memory O(P + M·V), safe at V ≈ 49k.
    """
    with eager_attention(model):
        cols = _columns(model, subset, chi_o, chi_u, right, precondition)
        return torch.stack([(left * col).sum(-1) for col in cols], dim=1)  # (M, L)


def entk_implicit(model: torch.nn.Module, subset: ParamSubset, chi_o: Chi, chi_u: Chi) -> Tensor:
    """(b) stacked over the vocabulary basis: the V×V blocks, only when asked for. Shape: (M, L, V, V).

    V·L vjp/jvp pairs; for tests and small vocabularies (the blocks alone are M·L·V² floats).
    """
    vocab = model.get_output_embeddings().weight.shape[0]
    basis = torch.eye(vocab, dtype=model.dtype, device=model.device)
    cols = [
        kernel_columns(model, subset, chi_o, chi_u, e.expand(chi_u.positions.numel(), -1))
        for e in basis
    ]
    return torch.stack(cols, dim=-1)  # (M, L, V, V): [..., w] = K e_w


def head_inputs_and_logits(model: torch.nn.Module, chi: Chi) -> tuple[Tensor, Tensor]:
    """h_m, the inputs of the output head at the response positions, and the logits at every
    position, from one forward. Shapes: (L, d) and (T, V).
    """
    captured: list[Tensor] = []
    head = model.get_output_embeddings()
    hook = head.register_forward_hook(lambda mod, args, out: captured.append(args[0]))
    try:
        with torch.no_grad():
            logits = model(chi.input_ids[None]).logits
    finally:
        hook.remove()
    return captured[0][0, chi.positions], logits[0]  # (L, d), (T, V)


def unembed_scalar(model: torch.nn.Module, h_o: Tensor, h_u: Tensor) -> Tensor:
    """s_{m,l} = h_mᵀ h_l + 1[b_U exists] from head inputs (M, d) and (L, d). Shape: (M, L)."""
    bias = 1.0 if model.get_output_embeddings().bias is not None else 0.0
    return h_o @ h_u.T + bias


def entk_unembed(model: torch.nn.Module, chi_o: Chi, chi_u: Chi) -> Tensor:
    """(c) the unembedding-only eNTK in closed form: K_{m,l} = s_{m,l} I_V. Returns s, shape (M, L).

    z_m = W_U h_m + b_U, so ∂z_{m,v}/∂W_U[v'] = δ_{vv'} h_m and ∂z_{m,v}/∂b_U[v'] = δ_{vv'}:
    s_{m,l} = h_m(χ_o)ᵀ h_l(χ_u) + 1[b_U exists].
    """
    h_o, h_u = head_inputs_and_logits(model, chi_o)[0], head_inputs_and_logits(model, chi_u)[0]
    return unembed_scalar(model, h_o, h_u)


def dense_from_unembed(s_o_u: Tensor, vocab: int) -> Tensor:
    """The V×V blocks s_{m,l} I_V of (c), for comparison with (a). Shape: (M, L, V, V)."""
    return s_o_u[:, :, None, None] * torch.eye(vocab, dtype=s_o_u.dtype, device=s_o_u.device)


def block_summaries(k_o_u: Tensor) -> dict[str, Tensor]:
    """Exact trace and Frobenius norm of every V×V block K_{m,l}. Each: shape (M, L)."""
    return {
        "trace": torch.diagonal(k_o_u, dim1=-2, dim2=-1).sum(-1),
        "norm": torch.linalg.matrix_norm(k_o_u, ord="fro"),
    }


def probe_summaries(probes: Tensor, columns: Tensor) -> dict[str, Tensor]:
    """Hutchinson estimates of tr K_{m,l} and ‖K_{m,l}‖_F from kernel columns. Each: shape (M, L).

    probes r: (n, V) with E[r rᵀ] = I (Rademacher; or √V·e_v over the whole basis, which is exact).
    columns: (n, M, L, V), columns[i, m, l] = K_{m,l} r_i (`kernel_columns` with r_i at every l).
    tr K = E[rᵀ K r], ‖K‖_F² = E[‖K r‖²].
    """
    trace = torch.einsum("iv,imlv->ml", probes, columns) / probes.shape[0]
    norm = (columns.pow(2).sum(-1).mean(0)).sqrt()
    return {"trace": trace, "norm": norm}


def unembed_summaries(s_o_u: Tensor, vocab: int) -> dict[str, Tensor]:
    """tr(s I_V) = V s and ‖s I_V‖_F = |s| √V for the closed form (c). Each: shape (M, L)."""
    return {"trace": vocab * s_o_u, "norm": s_o_u.abs() * vocab**0.5}


def rademacher(
    n: int, vocab: int, generator: torch.Generator, dtype: torch.dtype, device="cpu"
) -> Tensor:
    """n Rademacher probe vectors in R^V, E[r rᵀ] = I, drawn from a CPU `generator` (the same
    draws on every device), then moved to `device`. Shape: (n, V)."""
    signs = torch.randint(0, 2, (n, vocab), generator=generator)
    return (2 * signs - 1).to(dtype=dtype, device=device)


def estimate_summaries(
    model: torch.nn.Module,
    subset: ParamSubset,
    chi_o: Chi,
    chi_u: Chi,
    n_probes: int,
    generator: torch.Generator,
) -> dict[str, Tensor]:
    """Trace and norm of every block K_{m,l} from n Rademacher probes via (b). Each: (M, L).

    Streams over probes and positions (memory O(P + M·V)): each column K_{:,l} r enters
    `probe_summaries` alone and only its (M,) reductions are kept.
    """
    vocab = model.get_output_embeddings().weight.shape[0]
    probes = rademacher(n_probes, vocab, generator, model.dtype, model.device)
    length = chi_u.positions.numel()
    trace = torch.zeros(chi_o.positions.numel(), length, dtype=model.dtype, device=model.device)
    square = torch.zeros_like(trace)
    for r in probes:
        for pos, col in enumerate(
            _columns(model, subset, chi_o, chi_u, r.expand(length, -1), None)
        ):
            one = probe_summaries(r[None], col[None, :, None, :])  # n = 1, L = 1
            trace[:, pos] += one["trace"][:, 0]
            square[:, pos] += one["norm"][:, 0] ** 2
    return {"trace": trace / n_probes, "norm": (square / n_probes).sqrt()}
