"""Probe tracking against a naive per-sequence forward: every statistic, y* off the chosen pass."""

import numpy as np
import pytest
import torch

from common.probes import Y_STAR
from llm_validation.training.tracking import (
    build_probes,
    evaluate,
    scheduled_evaluation,
    summarize,
    unreached_evaluations,
)

# Tolerance: batched, padded fp32 forwards against one unpadded forward per sequence; round-off
# of ~1e-6 relative on log-probs of tens of nats.
ATOL = 1e-4


@pytest.fixture(scope="module")
def tracked():
    """(probes, arrays, naive) for four synthetic examples on tiny-neox. naive[i] holds the
    summed log π and Σ_l max_v log π of probes.items[i] from its own forward."""
    from llm_validation.sources.models import load_model
    from llm_validation.sources.synthetic import generate

    model, tokenizer = load_model("tiny-neox", seed=0)
    probes = build_probes(tokenizer, generate(4, seed=5))
    arrays = evaluate(model, probes, tokenizer.eos_token_id, batch_tokens=256)
    naive = []
    with torch.no_grad():
        for item in probes.items:
            ids = torch.tensor([item.ids])
            logp = torch.log_softmax(model(ids).logits[0].double(), -1)  # (T, V)
            rows = torch.arange(item.prompt_len - 1, len(item.ids) - 1)  # t predicts t + 1
            naive.append(
                (float(logp[rows, ids[0, rows + 1]].sum()), float(logp[rows].max(-1).values.sum()))
            )
    return probes, arrays, np.array(naive)


def _rows(probes, kind):
    return np.array([k == kind for k in probes.kind])


def test_logp_is_the_summed_log_prob_of_each_probe(tracked):
    probes, arrays, naive = tracked
    for kind, stats in arrays.items():
        if kind != Y_STAR:
            assert np.allclose(stats["logp"], naive[_rows(probes, kind), 0], atol=ATOL), kind
            assert np.array_equal(stats["example"], probes.example[_rows(probes, kind)])


def test_logp_token_is_the_summed_log_prob_over_the_response_length(tracked):
    """logp_token = (1/L) log π(y|x) with L = |y| (EOS included), per example."""
    probes, arrays, naive = tracked
    lengths = np.array([it.response_len for it in probes.items])
    for kind, stats in arrays.items():
        if kind != Y_STAR:
            rows = _rows(probes, kind)
            assert np.allclose(stats["logp_token"], naive[rows, 0] / lengths[rows], atol=ATOL)
    chosen = _rows(probes, "chosen")
    assert np.allclose(arrays[Y_STAR]["logp_token"], naive[chosen, 1] / lengths[chosen], atol=ATOL)


def test_y_star_is_the_per_position_argmax_along_the_chosen_response(tracked):
    """y* = argmax_v π(v|x, y⁺_<l) at every position of y⁺: its summed log-prob is
    Σ_l max_v log π on the chosen pass (not the rejected one), and ≥ log π(y⁺)."""
    probes, arrays, naive = tracked
    chosen = _rows(probes, "chosen")
    assert np.allclose(arrays[Y_STAR]["logp"], naive[chosen, 1], atol=ATOL)
    assert np.array_equal(arrays[Y_STAR]["example"], probes.example[chosen])
    assert np.all(arrays[Y_STAR]["logp"] >= arrays["chosen"]["logp"])


def test_a_summary_row_is_the_mean_over_examples(tracked):
    _, arrays, _ = tracked
    means = {(k, m): v for k, m, v in summarize(arrays)}
    assert means["rejected", "logp"] == pytest.approx(float(np.mean(arrays["rejected"]["logp"])))
    assert ("rejected", "example") not in means


def test_an_evaluation_is_scheduled_every_k_steps_and_at_the_steps_asked_for():
    assert [s for s in range(1, 13) if scheduled_evaluation(s, 5, (2, 7))] == [2, 5, 7, 10]
    assert [s for s in range(1, 7) if scheduled_evaluation(s, 3)] == [3, 6]


def test_only_steps_past_the_last_are_named_unreached():
    """The last step is evaluated anyway, so a step equal to it is reached."""
    assert unreached_evaluations((4, 2), total=4) is None
    assert unreached_evaluations((9, 5, 4), total=4) == (
        "evaluation step(s) 5, 9 lie beyond the run's 4 steps: not evaluated"
    )
