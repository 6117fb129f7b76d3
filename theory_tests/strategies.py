"""Shared hypothesis strategies and exact oracles for the theory tests.

Domains are bounded and finite on purpose: logits in [−20, 20] (π spans about 40 nats, so a
label can be as unlikely as e^{−40} ≈ 4e−18 and π can be one-hot to float64 precision), a
vocabulary of 2…64 labels, step sizes in (0, 20]. Everything is float64.

Oracles here are written independently of the simulator (closed forms with expm1/log1p, explicit
V×V matrices), so a bug in the simulator cannot hide in its own oracle.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from simulator import (
    LOSSES,
    Responses,
    UpdateBatch,
    linear_kernel,
    log_softmax,
    softmax,
    with_probability,
)
from simulator.losses import PAIR

# ---------------------------------------------------------------- numerical floors

# Absolute error of a difference of two log-softmax evaluations with |z| ≤ ~60: each carries
# about eps·(|z| + log V) ≈ 2.2e−16 · 70 ≈ 1.6e−14; 1e−12 leaves a 60× margin. A computed sign is
# trusted only where the exact value is further than this from 0.
LOGP_FLOOR = 1e-12

# ---------------------------------------------------------------- scalar strategies

FINITE = {"allow_nan": False, "allow_infinity": False}
LOGIT_BOUND = 20.0
logit_values = st.floats(-LOGIT_BOUND, LOGIT_BOUND, **FINITE)
vocab_sizes = st.integers(2, 64)
step_sizes = st.floats(1e-3, 20.0, **FINITE)  # η (or s = ηc): from tiny to very large steps
kernel_scales = st.floats(0.05, 5.0, **FINITE)  # c in K = c·I


def logit_vectors(vocab=vocab_sizes, bound: float = LOGIT_BOUND):
    """z ∈ [−bound, bound]^V. Shape: (V,)."""
    elements = st.floats(-bound, bound, **FINITE)
    return vocab.flatmap(lambda v: arrays(np.float64, v, elements=elements))


# ---------------------------------------------------------------- squeezing cases


class SqueezeCase(NamedTuple):
    """One negative-gradient step on ȳ under K = c·I: logits z (V,), the target, η and c."""

    z: np.ndarray
    ybar: int
    lr: float
    c: float = 1.0

    @property
    def s(self) -> float:
        """The effective step s = ηc of the closed form."""
        return self.lr * self.c

    @property
    def pi(self) -> np.ndarray:
        return softmax(self.z)


@st.composite
def squeeze_cases(draw, vocab=vocab_sizes, bound: float = LOGIT_BOUND) -> SqueezeCase:
    z = draw(logit_vectors(vocab, bound))
    ybar = draw(st.integers(0, z.size - 1))
    return SqueezeCase(z, ybar, draw(step_sizes), draw(kernel_scales))


def case_with_target_probability(vocab: int, ybar: int, p: float, lr=1.0, peak=0.0):
    """Pinned edge case: Zipf-shaped logits of the given peakiness with π(ȳ) = p exactly."""
    z = -peak * np.log1p(np.arange(vocab, dtype=float))
    return SqueezeCase(with_probability(z, ybar, p), ybar, lr, 1.0)


def squeeze_log_change(pi: np.ndarray, ybar: int, s: float) -> np.ndarray:
    """Exact log π′_i − log π_i after a negative step of size s on ȳ under K = c·I. Shape: (V,).

    From z′ = z + s(π − e_ȳ): log π′_i − log π_i = −log Σ_j π_j exp(x_ij), with
    x_ij = s(π_j − π_i) − s(δ_jȳ − δ_iȳ). Written as −log1p(Σ_j π_j expm1(x_ij)) so that even a
    change of 1e−20 keeps its sign: an oracle independent of `squeeze_closed_form`.
    """
    w = s * pi
    w[ybar] = -s * np.sum(np.delete(pi, ybar))  # s(π_ȳ − 1), exact even when π_ȳ rounds to 1
    x = w[None, :] - w[:, None]  # (V, V): x_ij = w_j − w_i
    return -np.log1p(np.sum(pi[None, :] * np.expm1(x), axis=1))


def second_largest_except(pi: np.ndarray, ybar: int) -> float:
    """π_(2): the second largest probability among labels i ≠ ȳ (0 when V = 2)."""
    rest = np.sort(np.delete(pi, ybar))
    return float(rest[-2]) if rest.size >= 2 else 0.0


# ---------------------------------------------------------------- loss problems


class LossProblem(NamedTuple):
    """A loss, logits z (N, V), reference logits (N, V) and the batch it updates on."""

    loss: str
    z: np.ndarray
    ref_z: np.ndarray
    batch: UpdateBatch


@st.composite
def responses(draw, n_inputs: int, vocab: int, n: int, max_len: int = 3) -> Responses:
    """n teacher-forced responses of length 1…max_len over contexts (rows) in [0, n_inputs)."""
    rows, tokens = [], []
    for _ in range(n):
        length = draw(st.integers(1, max_len))
        rows.append(draw(st.lists(st.integers(0, n_inputs - 1), min_size=length, max_size=length)))
        tokens.append(draw(st.lists(st.integers(0, vocab - 1), min_size=length, max_size=length)))
    return Responses.from_sequences(rows, tokens)


@st.composite
def loss_problems(
    draw,
    loss: str,
    max_inputs: int = 4,
    max_vocab: int = 16,
    bound: float = LOGIT_BOUND,
    max_responses: int = 3,
) -> LossProblem:
    """A random problem for `loss`: logits, a nearby reference and 1…max_responses responses (or pairs).

    The reference is z plus noise in [−1, 1]: π_ref close to π, as when finetuning from it (and,
    for `pg`, a behaviour policy close to the current one, so ρ = π/π_old stays moderate).
    """
    n = draw(st.integers(1, max_inputs))
    v = draw(st.integers(2, max_vocab))
    elements = st.floats(-bound, bound, **FINITE)
    z = draw(arrays(np.float64, (n, v), elements=elements))
    noise = draw(arrays(np.float64, (n, v), elements=st.floats(-1.0, 1.0, **FINITE)))
    n_resp = draw(st.integers(1, max_responses))
    spec = LOSSES[loss]
    groups = {g: draw(responses(n, v, n_resp)) for g in spec.groups}
    advantage = None
    if loss == "pg":
        advantage = draw(arrays(np.float64, n_resp, elements=st.floats(-3.0, 3.0, **FINITE)))
    return LossProblem(loss, z, z + noise, UpdateBatch(groups, advantage))


def is_pair_loss(loss: str) -> bool:
    return LOSSES[loss].groups == PAIR


# ---------------------------------------------------------------- kernels


@st.composite
def scalar_psd_kernels(draw, n: int, min_diag: float = 0.0) -> np.ndarray:
    """K = ΦΦᵀ from features Φ ∈ [−2, 2]^{n×d}, d ∈ 1…2n: PSD, possibly rank deficient."""
    d = draw(st.integers(1, 2 * n))
    phi = draw(arrays(np.float64, (n, d), elements=st.floats(-2.0, 2.0, **FINITE)))
    k = linear_kernel(phi)
    return k + min_diag * np.eye(n)


@st.composite
def symmetric_kernels(draw, n: int) -> np.ndarray:
    """Any symmetric K ∈ [−3, 3]^{n×n}, not necessarily PSD: Proposition 1 does not need PSD."""
    m = draw(arrays(np.float64, (n, n), elements=st.floats(-3.0, 3.0, **FINITE)))
    return (m + m.T) / 2.0


@st.composite
def block_psd_kernels(draw, n: int, v: int) -> np.ndarray:
    """A general eNTK-shaped kernel K = BBᵀ ∈ R^{NV×NV}, B ∈ [−1, 1]^{NV×r}."""
    r = draw(st.integers(1, n * v))
    b = draw(arrays(np.float64, (n * v, r), elements=st.floats(-1.0, 1.0, **FINITE)))
    return b @ b.T


def any_kernel(n: int, v: int):
    """A scalar PSD, scalar indefinite or block PSD kernel for n inputs and v labels."""
    return st.one_of(scalar_psd_kernels(n), symmetric_kernels(n), block_psd_kernels(n, v))


# ---------------------------------------------------------------- explicit oracles


def naive_first_order_change(pi: np.ndarray, k: np.ndarray, g: np.ndarray, lr: float):
    """−η A(x_o) Σ_u K(x_o, x_u) G(x_u) with A = I − 1πᵀ and K's V×V blocks materialised.

    The slow twin of `first_order_change`, written from the paper's Eq. (3)-(4) alone.
    Shape: (N, V).
    """
    n, v = pi.shape
    out = np.zeros((n, v))
    for o in range(n):
        a_o = np.eye(v) - np.outer(np.ones(v), pi[o])  # [A]_ij = δ_ij − π_j
        for u in range(n):
            k_ou = (
                k[o, u] * np.eye(v)
                if k.shape == (n, n)
                else k[o * v : (o + 1) * v, u * v : (u + 1) * v]
            )
            out[o] -= lr * a_o @ k_ou @ g[u]
    return out


def row_range(x: np.ndarray) -> np.ndarray:
    """max − min of each row. Shape: (N, V) → (N,)."""
    return np.ptp(x, axis=-1)


def log_softmax_change(z: np.ndarray, dz: np.ndarray) -> np.ndarray:
    """log softmax(z + dz) − log softmax(z). Shape: (..., V)."""
    return log_softmax(z + dz) - log_softmax(z)
