"""Responses scored under teacher forcing, and their log-probabilities.

A response y = (y_1 … y_L) to a prompt x is scored position by position: the context
χ_l = (x, y_<l) is one input of the model, a row of the logits Z ∈ R^{N×V}, and
log π(y|x) = Σ_l log π(y_l | χ_l). A single-label problem is the special case L = 1.

A batch of R responses is stored flat over its T tokens, so that scoring and the residual are
vectorised with no Python loop over responses or tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Responses:
    """R responses, flattened over their T tokens.

    rows:   (T,) the context (row of Z) each token is predicted from.
    tokens: (T,) the token (label) at that position.
    owner:  (T,) which response in [0, R) the token belongs to.
    n:      R, the number of responses (a response may not be empty).
    """

    rows: np.ndarray
    tokens: np.ndarray
    owner: np.ndarray
    n: int

    @classmethod
    def single_labels(cls, rows, tokens) -> Responses:
        """One length-1 response per (row, token) pair: the single-label model."""
        rows = np.asarray(rows, dtype=np.intp).reshape(-1)
        tokens = np.asarray(tokens, dtype=np.intp).reshape(-1)
        return cls(rows, tokens, np.arange(rows.size), rows.size)

    @classmethod
    def from_sequences(cls, rows: list, tokens: list) -> Responses:
        """Concatenate per-response (rows, tokens) sequences into one flat batch."""
        lengths = [len(r) for r in rows]
        owner = np.repeat(np.arange(len(rows)), lengths)
        return cls(
            np.concatenate([np.asarray(r, dtype=np.intp) for r in rows]),
            np.concatenate([np.asarray(t, dtype=np.intp) for t in tokens]),
            owner,
            len(rows),
        )

    @classmethod
    def concat(cls, parts: list[Responses]) -> Responses:
        """One batch holding every response of `parts`, in order (owners renumbered)."""
        offsets = np.cumsum([0] + [p.n for p in parts[:-1]])
        return cls(
            np.concatenate([p.rows for p in parts]),
            np.concatenate([p.tokens for p in parts]),
            np.concatenate([p.owner + o for p, o in zip(parts, offsets, strict=True)]),
            int(sum(p.n for p in parts)),
        )

    @property
    def lengths(self) -> np.ndarray:
        """|y| per response. Shape: (R,)."""
        return np.bincount(self.owner, minlength=self.n)


def sequence_logp(logp: np.ndarray, y: Responses) -> np.ndarray:
    """log π(y|x) = Σ_l log π(y_l | χ_l) per response. Shape: logp (N, V) → (R,).

    Linear in logp, so applied to a per-row change Δ log π it gives the sequence change
    Δ log π(y|x) = Σ_m [Δ log π(·|χ_m)]_{y_m} (Proposition 1 in sequence form).
    """
    return np.bincount(y.owner, weights=logp[y.rows, y.tokens], minlength=y.n)


def residual(pi: np.ndarray, y: Responses, dloss_dlogp: np.ndarray) -> np.ndarray:
    """G = ∂L/∂Z by the chain rule through log π(y|x), using ∂ log π(y_l|χ_l)/∂z_{χ_l} = e_{y_l} − π.

    G[χ] = Σ_{tokens t at χ} c_{r(t)} (e_{y_t} − π_χ), with c_r = ∂L/∂ log π(y_r|x).
    Shape: pi (N, V), dloss_dlogp (R,) → (N, V), zero on rows no token of y uses.
    """
    c_t = dloss_dlogp[y.owner]  # (T,)
    row_weight = np.bincount(y.rows, weights=c_t, minlength=pi.shape[0])  # (N,)
    g = -row_weight[:, None] * pi
    np.add.at(g, (y.rows, y.tokens), c_t)
    return g
