"""Diversity and repetition of sampled responses (pure python/numpy, no I/O).

The paper ties the squeezing effect of DPO's negative gradient to peaky distributions and
repetitive outputs (Sec. 3.3, 4.2); these measures make that visible on generated text. Responses
are split into words on whitespace; y_i is response i's word sequence and G_n(y) its list of
n-grams (with multiplicity).

- distinct-n (Li et al. 2016), corpus level:  |∪_i set(G_n(y_i))| / Σ_i |G_n(y_i)|.
- repeated-n-gram fraction:  (1/N) Σ_i 1[some n-gram occurs at least twice in y_i].
- mean per-token entropy of the sampling distribution, token weighted:
  H̄ = Σ_i Σ_t H(p_{i,t}) / Σ_i T_i,  H(p) = −Σ_v p_v log p_v (nats), p_{i,t} the distribution
  token t of response i was drawn from (after temperature and top-p).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence


def ngrams(words: Sequence[str], n: int) -> list[tuple[str, ...]]:
    """G_n(y): the n-grams of a word sequence, in order, with multiplicity."""
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def distinct_n(responses: Sequence[str], n: int) -> float:
    """|unique n-grams| / |n-grams| over all responses; 0 when no response has n words."""
    grams = [g for r in responses for g in ngrams(r.split(), n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def repeats_an_ngram(response: str, n: int) -> bool:
    """Whether some n-gram occurs at least twice in the response."""
    counts = Counter(ngrams(response.split(), n))
    return any(c >= 2 for c in counts.values())


def repeated_ngram_fraction(responses: Sequence[str], n: int) -> float:
    """Fraction of responses that repeat an n-gram; 0 for no responses."""
    if not responses:
        return 0.0
    return sum(repeats_an_ngram(r, n) for r in responses) / len(responses)


def mean_token_entropy(entropy_sums: Sequence[float], token_counts: Sequence[int]) -> float:
    """H̄ = Σ_i Σ_t H(p_{i,t}) / Σ_i T_i from per-response entropy sums and token counts."""
    total = sum(token_counts)
    return float(sum(entropy_sums) / total) if total else 0.0


def diversity(
    responses: Sequence[str],
    entropy_sums: Sequence[float],
    token_counts: Sequence[int],
    repeat_n: int = 3,
) -> dict[str, float]:
    """All measures at once: distinct-1, distinct-2, the repeated-`repeat_n`-gram fraction, H̄."""
    return {
        "distinct_1": distinct_n(responses, 1),
        "distinct_2": distinct_n(responses, 2),
        "repeat_fraction": repeated_ngram_fraction(responses, repeat_n),
        "repeat_n": repeat_n,
        "mean_token_entropy": mean_token_entropy(entropy_sums, token_counts),
    }
