"""The synthetic task builds every probe type by its rule (module docstring, paper Table 1)."""

import pytest

from llm_validation.sources.synthetic import (
    CANONICAL,
    SENTENCES,
    SYNONYMS,
    generate,
    make_prompt,
    parse_prompt,
    reward,
    target,
)

EXAMPLES = generate(40, seed=7)


def _words(ex, kind):
    return ex.responses[kind].split()


@pytest.mark.parametrize(
    "rephrase, source", [("chosen_gptsemantic", "chosen"), ("reject_gptsemantic", "rejected")]
)
def test_each_gptsemantic_probe_is_its_own_response_in_synonyms(rephrase, source):
    """y⁺_gpts rephrases y⁺ and y⁻_gpts rephrases y⁻ (not y⁺): every word swapped for its
    synonym, so the reward (which reads synonyms as their word) is that of the source."""
    for ex in EXAMPLES:
        assert _words(ex, rephrase) == [SYNONYMS[w] for w in _words(ex, source)]
        assert reward(ex.prompt, ex.responses[rephrase]) == reward(ex.prompt, ex.responses[source])


def test_the_chosen_response_is_correct_and_the_rejected_one_is_not():
    for ex in EXAMPLES:
        assert _words(ex, "chosen") == target(ex.prompt)
        assert reward(ex.prompt, ex.chosen) == 1.0
        wrong = sum(a != b for a, b in zip(_words(ex, "rejected"), _words(ex, "chosen")))
        assert 1 <= wrong <= 2 and reward(ex.prompt, ex.rejected) < 1.0


def test_gptformat_probes_keep_the_format_with_other_words():
    """y⁺_gptf: as many random words as y⁺; y⁻_gptf: y⁺_gptf with 1-2 words replaced."""
    for ex in EXAMPLES:
        other, corrupted = _words(ex, "chosen_gptformat"), _words(ex, "reject_gptformat")
        assert len(other) == len(corrupted) == len(_words(ex, "chosen"))
        assert 1 <= sum(a != b for a, b in zip(other, corrupted)) <= 2


def test_irrelevant_and_random_probes_follow_their_rules():
    """irr_train: the next prompt's y⁺ (cyclically); random_permute: y⁺ shuffled; random_nonhum:
    irr_test shuffled; irr_hum: one of the English sentences."""
    for u, ex in enumerate(EXAMPLES):
        assert ex.responses["irr_train"] == EXAMPLES[(u + 1) % len(EXAMPLES)].chosen
        assert sorted(_words(ex, "random_permute")) == sorted(_words(ex, "chosen"))
        assert sorted(_words(ex, "random_nonhum")) == sorted(_words(ex, "irr_test"))
        assert ex.responses["irr_hum"].strip() in SENTENCES
    assert sum(_words(ex, "random_permute") != _words(ex, "chosen") for ex in EXAMPLES) > 30


def test_prompts_round_trip_and_synonyms_read_as_their_word():
    assert parse_prompt(make_prompt("sort", ["dog", "cat"])) == ("sort", ["dog", "cat"])
    assert target(make_prompt("sort", ["puppy", "cat"])) == ["cat", "dog"]
    assert target(make_prompt("reverse", ["red", "big", "cat"])) == ["cat", "big", "red"]
    assert all(CANONICAL[s] == w for w, s in SYNONYMS.items())
    assert reward(make_prompt("repeat", ["red", "cat"]), " crimson kitty") == 1.0
    assert reward(make_prompt("repeat", ["red", "cat"]), " red cat dog dog") == 0.5
