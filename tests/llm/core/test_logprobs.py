"""The batched teacher-forced log-prob against its naive per-example twin, and the statistics."""

import numpy as np
import pytest
import torch

from llm_validation.core.logprobs import (
    Truncation,
    collate,
    naive_sequence_logp,
    score,
    sequence_logps,
    tokenize_example,
)


def _mixed_items(tokenizer, examples):
    """Every probe of each example: lengths from ~5 to ~20 tokens, so batches carry padding."""
    items = []
    for ex in examples:
        items += tokenize_example(tokenizer, ex.prompt, ex.responses).values()
    assert len({len(it.ids) for it in items}) > 3  # genuinely mixed lengths
    return items


def test_batched_logprobs_equal_naive_loop(tiny, synthetic_examples):
    """log π(y|x) from length-bucketed padded batches equals a per-example loop over positions,
    within 1e-5 in fp32 (sums accumulate in float64; the per-token values agree to ~1e-7)."""
    model, tokenizer = tiny
    items = _mixed_items(tokenizer, synthetic_examples)
    naive = np.array([naive_sequence_logp(model, it) for it in items])
    batched = score(model, items, tokenizer.eos_token_id, batch_tokens=160)["logp"]
    ids, attention, response = collate(items, tokenizer.eos_token_id)
    with torch.no_grad():
        one_batch = sequence_logps(model, ids, attention, response).numpy()
    np.testing.assert_allclose(batched, naive, rtol=0, atol=1e-5)
    np.testing.assert_allclose(one_batch, naive, rtol=0, atol=1e-5)


def test_token_mean_variant_is_the_sum_over_response_length(tiny, synthetic_examples):
    """reduction="mean" gives (1/L) log π(y|x), L counting the appended EOS."""
    model, tokenizer = tiny
    items = _mixed_items(tokenizer, synthetic_examples)
    ids, attention, response = collate(items, tokenizer.eos_token_id)
    with torch.no_grad():
        total = sequence_logps(model, ids, attention, response, "sum")
        mean = sequence_logps(model, ids, attention, response, "mean")
    lengths = torch.tensor([it.response_len for it in items], dtype=torch.float64)
    torch.testing.assert_close(mean, total / lengths)


def test_eos_is_appended_and_prompt_and_padding_are_masked(tiny):
    """The response ends in EOS, and only response tokens (EOS included) enter the sum."""
    model, tokenizer = tiny
    item = tokenize_example(tokenizer, "\n\nHuman: hi\n\nAssistant:", {"y": " cat dog"})["y"]
    assert item.ids[-1] == tokenizer.eos_token_id
    ids, _, response = collate(
        [
            item,
            *tokenize_example(
                tokenizer, "x", {"y": " a much longer response than the other one"}
            ).values(),
        ],
        0,
    )
    assert int(response[0].sum()) == item.response_len
    assert not response[0, : item.prompt_len].any() and not response[0, len(item.ids) :].any()


@pytest.mark.parametrize("mode", ["keep_end", "keep_start"])
def test_prompt_truncation_is_shared_by_all_responses_of_an_example(tiny, mode):
    """When prompt + longest response exceeds max_length, the prompt keeps max_prompt_length
    tokens (its end under the paper's keep_end) for every response, long or short."""
    _, tokenizer = tiny
    prompt = "\n\nHuman: " + "tell me about the red house " * 20 + "\n\nAssistant:"
    cut = Truncation(max_length=48, max_prompt_length=16, mode=mode)
    out = tokenize_example(tokenizer, prompt, {"short": " ok", "long": " cat dog" * 10}, cut)
    assert {it.prompt_len for it in out.values()} == {16}
    full = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    kept = full[-16:] if mode == "keep_end" else full[:16]
    assert list(out["short"].ids[:16]) == kept == list(out["long"].ids[:16])
    assert max(len(it.ids) for it in out.values()) <= 48


def test_y_star_is_the_per_position_argmax_along_chosen(tiny, synthetic_examples):
    """Σ_l max_v log π(v | x, y⁺_<l) ≥ log π(y⁺|x), with equality at the per-position argmax."""
    model, tokenizer = tiny
    ex = synthetic_examples[0]
    chosen = tokenize_example(tokenizer, ex.prompt, {"chosen": ex.chosen})["chosen"]
    stats = score(model, [chosen], tokenizer.eos_token_id)
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=torch.tensor([chosen.ids])).logits[0], -1)
    rows = range(chosen.prompt_len - 1, len(chosen.ids) - 1)
    expected = sum(float(logp[t].max()) for t in rows)
    assert stats["logp_max"][0] == pytest.approx(expected, abs=1e-5)
    assert stats["logp_max"][0] >= stats["logp"][0]


def test_token_statistics_match_their_definitions(tiny, synthetic_examples):
    """1 − π_y, 1 − max π, ‖π − e_y‖ and ‖A‖_F = ‖I − 1πᵀ‖_F (explicit V×V matrix) per token."""
    model, tokenizer = tiny
    ex = synthetic_examples[1]
    item = tokenize_example(tokenizer, ex.prompt, {"chosen": ex.chosen})["chosen"]
    stats = score(model, [item], tokenizer.eos_token_id)
    with torch.no_grad():
        pi = torch.softmax(model(input_ids=torch.tensor([item.ids])).logits[0].double(), -1)
    rows = list(range(item.prompt_len - 1, len(item.ids) - 1))
    targets = [item.ids[t + 1] for t in rows]
    eye = torch.eye(pi.shape[-1], dtype=torch.float64)
    expected = {
        "one_minus_pi": np.mean([1 - float(pi[t, y]) for t, y in zip(rows, targets, strict=True)]),
        "mass_outside_argmax": np.mean([1 - float(pi[t].max()) for t in rows]),
        "residual_norm": np.mean(
            [float((pi[t] - eye[y]).norm()) for t, y in zip(rows, targets, strict=True)]
        ),
        "a_frobenius": np.mean([float((eye - pi[t][None, :]).norm()) for t in rows]),
    }
    for name, value in expected.items():
        assert stats[name][0] == pytest.approx(value, rel=1e-5), name


def test_two_buckets_split_longest_first_only_where_it_saves_padding():
    """The cpu-dpo batch's 8 lengths pad to 1,376 tokens as one batch and to 4·172 + 4·110 =
    1,128 split after the fourth longest; equal lengths stay one batch."""
    from llm_validation.core.logprobs import two_buckets

    lengths = [110, 172, 68, 147, 163, 79, 125, 108]
    buckets = two_buckets(lengths)
    assert sorted(np.concatenate(buckets).tolist()) == list(range(8))
    padded = sum(len(b) * max(lengths[i] for i in b) for b in buckets)
    assert [sorted(lengths[i] for i in b) for b in buckets] == [
        [125, 147, 163, 172],
        [68, 79, 108, 110],
    ]
    assert padded == 1128 < 8 * 172
    assert [b.tolist() for b in two_buckets([50] * 4)] == [[0, 1, 2, 3]]
    assert [b.tolist() for b in two_buckets([7])] == [[0]]
