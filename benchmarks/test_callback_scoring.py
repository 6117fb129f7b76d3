"""Probe scoring inside `LearningDynamicsCallback` against `logprobs`' scorer on the same probes.

The callback's evaluation is `logprobs.score` plus what only the callback does: the "where did the
mass go" mean of π over the y⁺ positions (read off the same forward's logits, no second pass),
the per-type summaries and, in several processes, the shard and gather (a no-op here, one
process). Target: at least 0.9× the tokens/s of `score` alone, i.e. the extras cost ≤ ~10 %.
"""

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from llm_validation.core.logprobs import score  # noqa: E402
from llm_validation.sources.data import load_examples  # noqa: E402
from llm_validation.sources.models import load_model  # noqa: E402
from llm_validation.trl.callback import LearningDynamicsCallback  # noqa: E402

from .tools.timing import paired_ratio, record, require_model  # noqa: E402

TARGET = 0.9
MODELS = ["tiny-neox", pytest.param("smollm2", marks=pytest.mark.smollm2)]


@pytest.fixture(scope="module", params=MODELS)
def bound(request, quick):
    name = request.param
    require_model(name, quick)
    model, tokenizer = load_model(name)
    examples, _ = load_examples("synthetic", limit=8 if name == "smollm2" else 64)
    callback = LearningDynamicsCallback(examples, progress=False)
    probes = callback.bind(tokenizer)
    return name, model, callback, probes.items, tokenizer.eos_token_id


def test_callback_scoring_tokens_per_second_against_logprobs(benchmark, bound):
    name, model, callback, items, pad = bound
    t_score, t_callback = paired_ratio(
        benchmark,
        lambda: callback.measure(model),
        lambda: score(model, items, pad),
        rounds=7,
    )
    ratio = t_score / t_callback
    tokens = sum(len(it.ids) for it in items)
    benchmark.extra_info.update({"tokens": tokens, "callback_tokens_per_s": tokens / t_callback})
    record(
        benchmark,
        f"callback probe scoring on {name}: tokens/s vs `logprobs` scorer",
        f"≥ {TARGET}",
        ratio,
        "×",
        ratio >= TARGET,
    )
    assert ratio >= TARGET
