"""The influence heat map is a sum of eNTK products ⟨∇ log π(y_c^o), ∇ L(y_r^u)⟩ (paper Eq. 5)."""

import numpy as np
import pytest

from llm_validation.core import first_order
from llm_validation.core.logprobs import tokenize_example
from llm_validation.measure import influence
from llm_validation.sources.data import load_examples

COLUMNS = ("chosen", "rejected", "irr_hum", "random_permute")


@pytest.fixture(scope="module")
def two_examples(tiny_neox64):
    examples, _ = load_examples("synthetic", limit=2)
    tok = tiny_neox64[1]
    return [tokenize_example(tok, ex.prompt, ex.responses) for ex in examples]


def test_influence_equals_brute_force_gradient_products(tiny_neox64, two_examples):
    """I[r, c] = −(η/N) Σ_o Σ_u c_r ⟨∇ log π(y_c^o), ∇ log π(y_r^u)⟩, split at o = u, against
    every gradient stored and multiplied pairwise (SFT: c_r = −1)."""
    model, tok = tiny_neox64
    rows, lr = ("chosen", "rejected"), 1e-3
    mats = influence.influence_matrices(
        model, two_examples, tok.eos_token_id, "sft", rows, COLUMNS, lr
    )
    grad = [
        {k: first_order.logp_and_grad(model, v, tok.eos_token_id)[1] for k, v in ex.items()}
        for ex in two_examples
    ]
    same, total = np.zeros((2, len(COLUMNS))), np.zeros((2, len(COLUMNS)))
    for o in range(2):
        for u in range(2):
            for i, r in enumerate(rows):
                for j, c in enumerate(COLUMNS):
                    value = lr * float(grad[o][c] @ grad[u][r]) / 2  # −η c_r / N, c_r = −1
                    total[i, j] += value
                    same[i, j] += value if o == u else 0.0
    np.testing.assert_allclose(mats["total"], total, rtol=1e-9)
    np.testing.assert_allclose(mats["same"], same, rtol=1e-9)
    np.testing.assert_allclose(mats["other"], total - same, rtol=1e-9, atol=1e-12)


def test_sft_same_prompt_influence_is_symmetric(tiny_neox64, two_examples):
    """The kernel is symmetric, so under SFT training on y_a moves y_b as much as training on y_b
    moves y_a (same prompt, first order)."""
    model, tok = tiny_neox64
    types = ("chosen", "rejected", "irr_hum")
    mats = influence.influence_matrices(
        model, two_examples, tok.eos_token_id, "sft", types, types, 1e-3
    )
    np.testing.assert_allclose(mats["same"], mats["same"].T, rtol=1e-9)


def test_dpo_rows_are_the_two_terms_of_the_loss(tiny_neox64, two_examples):
    """DPO's rows are its y⁺ and y⁻ terms, c_± = ∓β/2 at π_ref = π_θ₀: they push in opposite
    directions, so where y⁺ and y⁻ are alike (⟨∇ log π(y⁺), ∇ log π(y⁻)⟩ > 0; the synthetic y⁻ is y⁺
    with one or two words replaced) their same-prompt effects on y⁺ have opposite signs."""
    model, tok = tiny_neox64
    rows = influence.row_terms("dpo", ("ignored",))
    mats = influence.influence_matrices(
        model, two_examples, tok.eos_token_id, "dpo", rows, COLUMNS, 1e-3
    )
    assert rows == ("chosen", "rejected")
    assert mats["same"][0, 0] > 0 > mats["same"][1, 0]
