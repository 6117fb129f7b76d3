"""Fixed kernels K between inputs, their builders, and how they act on a residual.

Under a fixed kernel the logits move in function space exactly as z ← z − η K G (Eq. 4 with the
eNTK frozen; neural-tangents' ż = −K∇L). Two forms:

- scalar K ∈ R^{N×N}, symmetric PSD, acting as K ⊗ I_V: every label of x_o feels the same
  similarity k(x_o, x_u);
- block K ∈ R^{NV×NV}, rows and columns ordered (input, label): the general eNTK.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def apply_kernel(k: np.ndarray, g: np.ndarray) -> np.ndarray:
    """(K G)[o] = Σ_u K(x_o, x_u) G(x_u). Shape: k (N, N) or (NV, NV), g (N, V) → (N, V)."""
    n, v = g.shape
    if k.shape == (n, n):
        return k @ g
    if k.shape == (n * v, n * v):
        return (k @ g.reshape(n * v)).reshape(n, v)
    raise ValueError(f"kernel of shape {k.shape} fits neither ({n}, {n}) nor ({n * v}, {n * v})")


def kernel_block(k: np.ndarray, o: int, u: int, n: int, v: int) -> np.ndarray:
    """K(x_o, x_u) as a V×V block: k_ou·I_V for a scalar kernel. Shape: → (V, V)."""
    if k.shape == (n, n):
        return k[o, u] * np.eye(v)
    return k[o * v : (o + 1) * v, u * v : (u + 1) * v]


def linear_kernel(phi: np.ndarray) -> np.ndarray:
    """K = ΦΦᵀ: the exact, fixed kernel when only a linear readout z = Wφ(x) is trained.

    Shape: phi (N, d) → (N, N).
    """
    return phi @ phi.T


def rbf_kernel(x: np.ndarray, lengthscale: float = 1.0) -> np.ndarray:
    """K_ij = exp(−‖x_i − x_j‖² / (2ℓ²)). Shape: x (N, d) → (N, N)."""
    sq = np.sum(x * x, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * x @ x.T, 0.0)
    return np.exp(-d2 / (2.0 * lengthscale**2))


@dataclass(frozen=True)
class MLP:
    """A one-hidden-layer ReLU network in NTK parametrisation, frozen at initialisation:

    z(x) = W₂ relu(W₁x + b₁)/√H + b₂.   Shapes: w1 (H, d), b1 (H,), w2 (V, H), b2 (V,).
    """

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray

    @classmethod
    def init(cls, rng: np.random.Generator, d: int, width: int, v: int) -> MLP:
        return cls(
            rng.standard_normal((width, d)) / np.sqrt(d),
            rng.standard_normal(width),
            rng.standard_normal((v, width)),
            np.zeros(v),
        )

    def logits(self, x: np.ndarray) -> np.ndarray:
        """z(x). Shape: (N, d) → (N, V)."""
        return relu(x @ self.w1.T + self.b1) @ self.w2.T / np.sqrt(self.b1.size) + self.b2

    def params(self) -> np.ndarray:
        """θ flattened, in the order (w1, b1, w2, b2). Shape: (P,)."""
        return np.concatenate([p.ravel() for p in (self.w1, self.b1, self.w2, self.b2)])

    def with_params(self, theta: np.ndarray) -> MLP:
        """The same architecture at parameters θ (inverse of `params`)."""
        parts, i = [], 0
        for p in (self.w1, self.b1, self.w2, self.b2):
            parts.append(theta[i : i + p.size].reshape(p.shape))
            i += p.size
        return MLP(*parts)


def relu(u: np.ndarray) -> np.ndarray:
    return np.maximum(u, 0.0)


def mlp_entk(mlp: MLP, x: np.ndarray) -> np.ndarray:
    """The empirical NTK of `mlp` at its parameters: K_{(i,a),(j,b)} = ⟨∂z_a(x_i)/∂θ, ∂z_b(x_j)/∂θ⟩.

    Summing over the four parameter blocks:
      w2, b2:  δ_ab (h_i·h_j/H + 1),                        h = relu(W₁x + b₁)
      w1, b1:  Σ_k W₂[a,k] W₂[b,k] s_ik s_jk (x_i·x_j + 1)/H,  s = relu′(W₁x + b₁)
    Shape: x (N, d) → (NV, NV), ordered (input, label).
    """
    width = mlp.b1.size
    v = mlp.b2.size
    pre = x @ mlp.w1.T + mlp.b1  # (N, H)
    h, s = relu(pre), (pre > 0).astype(float)
    readout = (h @ h.T / width + 1.0)[:, :, None, None] * np.eye(v)  # (N, N, V, V)
    ws = s[:, None, :] * mlp.w2[None, :, :]  # (N, V, H): W₂[a,k] s_ik
    hidden = np.einsum("iak,jbk->ijab", ws, ws) * ((x @ x.T + 1.0) / width)[:, :, None, None]
    k = readout + hidden  # (N, N, V, V)
    n = x.shape[0]
    return k.transpose(0, 2, 1, 3).reshape(n * v, n * v)
