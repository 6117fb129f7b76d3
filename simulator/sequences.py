"""Teacher-forced sequences under a linear readout on fixed context features.

A response y = (y_1 … y_L) to a prompt x is scored position by position: each context
χ_l = (x, y_<l) has features φ(χ_l) ∈ R^d (`World.features`) and logits

    z(χ) = E M φ(χ),   E = [I_V, s·C] ∈ R^{V×(V+K)} fixed,  M ∈ R^{(V+K)×d} trained,

and log π(y|x) = Σ_l log π(y_l | χ_l). Only M is trained, so the kernel is fixed and exact:

    K((χ_o, a), (χ_u, b)) = φ(χ_o)·φ(χ_u) [E Eᵀ]_{ab},   i.e.  K = ΦΦᵀ ⊗ EEᵀ,

and one SGD step on M, M ← M − η Eᵀ Gᵀ Φ, is the function-space step z ← z − η K G exactly
(`readout_kernel` builds K for `kernels.apply_kernel`, the naive twin the tests compare against).
Proposition 1 in sequence form then reads, for an observed response y_o,

    [Δ log π(y|χ_o)]_m = −η Σ_l [A(χ_o)]_m [K(χ_o, χ_u)]_{m,l} [G(χ_u)]_l + O(η²).

Probe responses are fixed token arrays scored under teacher forcing; only `sample` draws tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import sparse

from .losses import UpdateBatch, loss_and_residual
from .responses import Responses, residual
from .softmax import log_softmax
from .world import World


@dataclass(frozen=True)
class Readout:
    """The model z(χ) = E M φ(χ). Shapes: m (V + K, d), e (V, V + K), sparse."""

    m: np.ndarray
    e: sparse.csr_array

    def weights(self) -> np.ndarray:
        """W = E M, so that z(χ) = W φ(χ). Shape: (V, d)."""
        return self.e @ self.m

    @cached_property
    def weights_t(self) -> np.ndarray:
        """Wᵀ in C order, built once per model for all its logits (m is never changed in place).
        Shape: (d, V)."""
        return np.ascontiguousarray(self.weights().T)

    def logits(self, phi: sparse.csr_array) -> np.ndarray:
        """z = Φ Wᵀ. Shape: (N, d) sparse → (N, V)."""
        return np.asarray(phi @ self.weights_t)

    def with_m(self, m: np.ndarray) -> Readout:
        return Readout(m, self.e)


@dataclass(frozen=True)
class Batch:
    """R teacher-forced responses of length L: prompts (R,), tokens (R, L), phi (R·L, d).

    phi is a sparse CSR array (a context has ~20 non-zero features of d), row r·L + l.
    """

    prompts: np.ndarray
    tokens: np.ndarray
    phi: np.ndarray

    @property
    def n(self) -> int:
        return self.tokens.shape[0]

    def select(self, which: np.ndarray) -> Batch:
        """The responses `which` (indices into R), with their features."""
        length = self.tokens.shape[1]
        rows = (which[:, None] * length + np.arange(length)).reshape(-1)
        return Batch(self.prompts[which], self.tokens[which], self.phi[rows])

    def responses(self, offset: int = 0) -> Responses:
        """The batch as `Responses` over rows offset … offset + R·L − 1 (context r·L + l)."""
        r, length = self.tokens.shape
        rows = offset + np.arange(r * length)
        return Responses(rows, self.tokens.reshape(-1), np.repeat(np.arange(r), length), r)


def encode(world: World, prompts: np.ndarray, tokens: np.ndarray) -> Batch:
    """Responses `tokens` (R, L) to prompt ids `prompts` (R,), with their context features."""
    phi = world.features(prompts, tokens)
    return Batch(prompts, tokens, _csr(phi.reshape(-1, phi.shape[-1])))


def _csr(dense: np.ndarray) -> sparse.csr_array:
    """A dense (N, d) array as CSR, built from its non-zeros directly (scipy's converter is slow)."""
    rows, cols = np.nonzero(dense)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=dense.shape[0]))])
    return sparse.csr_array((dense[rows, cols], cols, indptr), shape=dense.shape)


def init_readout(world: World) -> Readout:
    """The start of pretraining: z = b, the world's prior logits (0 on language tokens, a Zipf
    tail on junk), carried by M's bias column, M = 0 elsewhere."""
    e = world.output_embedding()
    m = np.zeros((e.shape[1], world.feature_dim))
    m[: world.vocab, 0] = world.prior_logits() / world.cfg.bias_scale  # φ_0 = bias_scale
    return Readout(m, e)


def readout_kernel(phi_o: np.ndarray, phi_u: np.ndarray, e: np.ndarray) -> np.ndarray:
    """K(χ_o, χ_u) = φ_o·φ_u EEᵀ for every pair, ordered (context, label). Shape: → (N_o V, N_u V).

    Dense and O(N²V²): the naive twin of the SGD step on M, for tests and small inspections.
    """
    dense = lambda a: a.toarray() if sparse.issparse(a) else np.asarray(a)
    return np.kron(dense(phi_o) @ dense(phi_u).T, dense(e @ e.T))


def token_logp(model: Readout, batch: Batch) -> np.ndarray:
    """log π(·|χ) at every context of the batch. Shape: (R·L, V)."""
    return log_softmax(model.logits(batch.phi))


def argmax_logp(logp: np.ndarray, batch: Batch) -> np.ndarray:
    """log π(y*|x) = Σ_l max_v log π(v | χ_l) along the teacher-forced batch (y_star). Shape: (R,)."""
    return logp.max(axis=1).reshape(batch.tokens.shape).sum(axis=1)


def gradient(model: Readout, phi: np.ndarray, g: np.ndarray) -> np.ndarray:
    """∂L/∂M = Eᵀ Gᵀ Φ, from G = ∂L/∂z at every context. Shape: phi (N, d), g (N, V) → (V + K, d)."""
    return model.e.T @ np.asarray(phi.T @ g).T


def residual_of(
    model: Readout,
    loss: str,
    groups: dict[str, Batch],
    ref: Readout | None,
    advantage: np.ndarray | None = None,
    ref_z: np.ndarray | None = None,
    **hp,
) -> tuple[float, np.ndarray, np.ndarray]:
    """The loss, its residual G (N, V) from `losses.loss_and_residual`, and the stacked Φ (N, d).

    The groups' contexts are stacked in order; every registered loss works unchanged. ref_z:
    π_ref's logits on those contexts, when the caller has them (fixed responses); else read from ref.
    """
    names = list(groups)
    phi = sparse.vstack([groups[n].phi for n in names], format="csr")
    offsets = np.cumsum([0] + [groups[n].phi.shape[0] for n in names])
    batch = UpdateBatch({n: groups[n].responses(int(o)) for n, o in zip(names, offsets)}, advantage)
    if ref_z is None and ref is not None:
        ref_z = ref.logits(phi)
    value, g = loss_and_residual(loss, model.logits(phi), batch, ref_z, **hp)
    return value.loss, g, phi


@dataclass(frozen=True)
class Optimizer:
    """Plain SGD on M (the fixed-kernel step), or a diagonal RMSprop preconditioner.

    rmsprop: v ← ρ v + (1 − ρ) ∇², M ← M − η ∇ / (√v + ε); the kernel is then no longer fixed.
    """

    kind: str = "sgd"
    rho: float = 0.99
    eps: float = 1e-8

    def update(self, m, grad, v, lr):
        """One step. Shapes: m, grad, v (V + K, d) → (m′, v′)."""
        if self.kind == "sgd":
            return m - lr * grad, v
        if self.kind == "rmsprop":
            v = self.rho * v + (1.0 - self.rho) * grad**2
            return m - lr * grad / (np.sqrt(v) + self.eps), v
        raise ValueError(f"unknown optimizer {self.kind!r}; choose sgd or rmsprop")


def train(
    model: Readout,
    loss: str,
    groups: dict[str, Batch],
    steps: int,
    lr: float,
    ref: Readout | None = None,
    optimizer: Optimizer = Optimizer(),
    **hp,
) -> Readout:
    """`steps` full-batch steps of `loss` (mean over responses of the first group)."""
    v = np.zeros_like(model.m)
    n = next(iter(groups.values())).n
    for _ in range(steps):
        _, g, phi = residual_of(model, loss, groups, ref, **hp)
        m, v = optimizer.update(model.m, gradient(model, phi, g) / n, v, lr)
        model = model.with_m(m)
    return model


def pretrain(world: World, init: Readout | None = None) -> Readout:
    """π₀: `pretrain_steps` full-batch SFT steps from `init_readout` on the world's fluent corpus,
    with the junk tokens' rows of M held at their prior.

    The corpus makes π₀ peaky where a real LM is: near one-hot on format slots, following the
    concept chain on content, and low on junk tokens, which no fluent text uses. Deviation from
    plain SGD on M, documented here: no corpus token is junk, so SFT's only push on a junk row is
    −Σ_χ π_v(χ) φ(χ), with π_v ≤ e^{junk_logit}; dropping it keeps every junk logit at its prior
    b_v, so the V − n_language junk logits pool into one constant log Σ_v e^{b_v} and a step costs
    O(N·n_language), not O(N·V). `pretrain_full_vocab` is the naive twin the tests compare with.
    """
    model = init_readout(world) if init is None else init
    corpus = encode(world, world.corpus_prompts, world.corpus_tokens)
    n_lang, vocab = world.n_language, world.vocab
    rows = np.r_[:n_lang, vocab : model.m.shape[0]]  # language tokens and concepts: trained
    e = model.e[:n_lang][:, rows]  # (n_lang, n_lang + K)
    pooled = np.asarray(corpus.phi @ model.weights()[n_lang:].T)  # (N, V − n_lang), constant
    junk = np.log(np.sum(np.exp(pooled - pooled.max(axis=1, keepdims=True)), axis=1))
    junk = junk + pooled.max(axis=1)  # (N,) log Σ_junk e^{z_v}
    y, n, cfg = corpus.responses(), corpus.n, world.cfg
    m = model.m[rows]
    for _ in range(cfg.pretrain_steps):
        z = np.hstack([np.asarray(corpus.phi @ (e @ m).T), junk[:, None]])  # (N, n_lang + 1)
        g = residual(np.exp(log_softmax(z)), y, -np.ones(n))[:, :n_lang]  # SFT: c = −1
        m = m - cfg.pretrain_lr * (e.T @ np.asarray(corpus.phi.T @ g).T) / n
    full = model.m.copy()
    full[rows] = m
    return model.with_m(full)


def pretrain_full_vocab(world: World, init: Readout | None = None) -> Readout:
    """The naive twin of `pretrain`: the same SGD on all V logits, junk rows' gradient zeroed."""
    model = init_readout(world) if init is None else init
    corpus = {"y": encode(world, world.corpus_prompts, world.corpus_tokens)}
    junk = np.arange(world.n_language, world.vocab)
    for _ in range(world.cfg.pretrain_steps):
        _, g, phi = residual_of(model, "sft", corpus, None)
        grad = gradient(model, phi, g) / corpus["y"].n
        grad[junk] = 0.0
        model = model.with_m(model.m - world.cfg.pretrain_lr * grad)
    return model


def sample(
    world: World, model: Readout, prompts: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Ancestral samples y_l ~ π(· | x, y_<l), one per prompt id. Shape: (R,) → (R, L)."""
    r, length = prompts.size, world.cfg.length
    tokens = np.zeros((r, length), dtype=int)
    for pos in range(length):
        phi = _csr(world.features(prompts, tokens, at=[pos])[:, 0])  # (R, d); reads y_<pos
        z = model.logits(phi)  # (R, V)
        cdf = np.cumsum(np.exp(z - z.max(axis=1, keepdims=True)), axis=1)  # unnormalised
        u = rng.random((r, 1)) * cdf[:, -1:]
        tokens[:, pos] = np.minimum((cdf < u).sum(axis=1), z.shape[1] - 1)
    return tokens
