"""Diversity and repetition measures (llm_validation/core/diversity.py) on hand-counted text."""

import pytest

from llm_validation.core.diversity import (
    distinct_n,
    diversity,
    mean_token_entropy,
    repeated_ngram_fraction,
)

RESPONSES = ["red cat red cat", "blue dog"]  # 6 words, 4 distinct; bigrams below


def test_distinct_1_and_2_count_unique_ngrams_over_all_responses():
    # Unigrams: red cat red cat blue dog → {red, cat, blue, dog}: 4/6.
    assert distinct_n(RESPONSES, 1) == pytest.approx(4 / 6)
    # Bigrams: (red cat) (cat red) (red cat) | (blue dog) → 3 unique of 4.
    assert distinct_n(RESPONSES, 2) == pytest.approx(3 / 4)
    assert distinct_n(["one"], 2) == 0.0  # no bigram at all


def test_repeated_ngram_fraction_flags_responses_that_loop():
    assert repeated_ngram_fraction(RESPONSES, 2) == 0.5  # only the first repeats "red cat"
    assert repeated_ngram_fraction(RESPONSES, 3) == 0.0  # "red cat red" occurs once
    assert repeated_ngram_fraction([], 2) == 0.0


def test_mean_token_entropy_is_token_weighted():
    """H̄ = (3.0 + 1.0) / (3 + 1) = 1.0, not the mean of per-response means (0.5·(1 + 1))."""
    assert mean_token_entropy([3.0, 1.0], [3, 1]) == 1.0
    assert mean_token_entropy([6.0, 1.0], [3, 1]) == pytest.approx(7 / 4)
    summary = diversity(RESPONSES, [6.0, 1.0], [3, 1], repeat_n=2)
    assert summary["repeat_fraction"] == 0.5 and summary["repeat_n"] == 2
