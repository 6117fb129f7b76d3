"""A prompt run once for all its responses (`logprobs.shared_prompt_rows`) gives the padded batch's
log-probabilities and gradients: the same keys at the same positions, fewer tokens."""

import numpy as np
import pytest
import torch

from llm_validation.core.logprobs import (
    Tokenized,
    collate,
    prompt_buckets,
    prompt_groups,
    score,
    sequence_logps,
    shared_sequence_logps,
    shares_prompts,
)

TOL = 1e-4  # fp32 round-off of a different matmul and attention order, summed over ≤ 12 tokens


def shared_items(vocab: int, prompts=(5, 3, 7), responses=((4, 6), (2,), (5, 1, 3)), seed=0):
    """Items grouped by prompt, of unequal prompt and response lengths (interleaved, so a group's
    items are not adjacent)."""
    g = torch.Generator().manual_seed(seed)
    draw = lambda n: tuple(torch.randint(1, vocab, (n,), generator=g).tolist())
    groups = [
        [Tokenized(x + draw(r), len(x)) for r in rs] for x, rs in zip(map(draw, prompts), responses)
    ]
    order = [it for k in range(max(map(len, groups))) for grp in groups for it in grp[k : k + 1]]
    return order


def padded(model, items, reduction="sum"):
    return sequence_logps(model, *collate(items, 0), reduction)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_shared_prompts_give_the_padded_batchs_logprobs(tiny, reduction):
    model, _ = tiny
    items = shared_items(model.config.vocab_size)
    assert shares_prompts(items)
    shared = shared_sequence_logps(model, items, 0, reduction)
    torch.testing.assert_close(shared, padded(model, items, reduction), rtol=0, atol=TOL)


def test_shared_prompts_give_the_padded_batchs_gradients(tiny):
    model, _ = tiny
    items = shared_items(model.config.vocab_size, seed=1)
    weights = torch.linspace(-1, 1, len(items), dtype=torch.float64)  # a loss reading every item
    grads = []
    for logps in (lambda: shared_sequence_logps(model, items, 0), lambda: padded(model, items)):
        model.zero_grad()
        (weights * logps()).sum().backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-3, atol=1e-5)


def test_a_probe_scores_every_statistic_the_same_with_its_prompt_shared(tiny):
    model, _ = tiny
    items = shared_items(model.config.vocab_size, seed=2)
    shared = score(model, items, 0, batch_tokens=24)  # several buckets of whole groups
    plain = score(model, items, 0, share_prompts=False)
    for name, values in plain.items():
        torch.testing.assert_close(
            torch.as_tensor(shared[name]), torch.as_tensor(values), atol=TOL, rtol=0
        )


def test_groups_are_items_with_equal_prompt_ids():
    a, b = (1, 2, 3), (1, 2, 4)
    items = [Tokenized(a + (9,), 3), Tokenized(b + (9,), 3), Tokenized(a + (8, 7), 3)]
    group, firsts = prompt_groups(items)
    assert group.tolist() == [0, 1, 0] and firsts == [0, 1]


def test_sharing_is_declined_where_it_would_not_save_tokens_or_cannot_apply():
    one_each = [Tokenized((1, 2, 3, 4), 2), Tokenized((5, 6, 7, 8), 2)]
    assert not shares_prompts(one_each)  # G·P + N·R = 8 = N·T: nothing saved
    assert not shares_prompts([Tokenized((1, 2, 3), 3), Tokenized((1, 2, 3, 4), 3)])  # no response
    assert not shares_prompts([Tokenized((1, 2), 0), Tokenized((1, 2), 0)])  # no prompt


def test_a_model_that_checkpoints_its_layers_keeps_the_padded_path(tiny):
    """Gradient checkpointing turns the key/value cache off, so the prompt cannot be shared."""
    model, _ = tiny
    items = shared_items(model.config.vocab_size)
    model.gradient_checkpointing_enable()
    model.train()
    try:
        assert shared_sequence_logps(model, items, 0) is None
        assert np.isfinite(score(model, items, 0)["logp"]).all()  # scoring takes the padded path
    finally:
        model.gradient_checkpointing_disable()
        model.eval()


def test_buckets_keep_each_prompt_group_whole_and_within_the_token_budget():
    items = shared_items(1000, prompts=(5, 3, 7, 2), responses=((4, 6), (2,), (5, 1, 3), (9, 9)))
    group, _ = prompt_groups(items)
    budget = 30
    buckets = prompt_buckets(items, budget)
    assert len(buckets) > 1
    assert sorted(np.concatenate(buckets).tolist()) == list(range(len(items)))  # each item once
    for bucket in buckets:
        groups = set(group[bucket].tolist())
        assert all(set(np.flatnonzero(group == g)) <= set(bucket) for g in groups)  # groups whole
        prompt = max(items[i].prompt_len for i in bucket)
        response = max(items[i].response_len for i in bucket)
        assert len(groups) == 1 or len(groups) * prompt + len(bucket) * response <= budget
