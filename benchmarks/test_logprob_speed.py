"""Target 3: probe log-prob evaluation, against a plain batched forward and against batch size 1.

`score` is what `python -m llm_validation logprobs` runs: length-bucketed batches, every token
statistic. Its tokens/s are compared with (a) a plain forward of exactly the same padded batches,
which is the floor any evaluation must pay, and (b) per-example evaluation at batch size 1, which
is how the paper's code scores probes.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from common.probes import PROBE_TYPES  # noqa: E402
from llm_validation.core.logprobs import (  # noqa: E402
    collate,
    length_buckets,
    score,
    sequence_logps,
    tokenize_example,
)
from llm_validation.sources.data import load_examples  # noqa: E402
from llm_validation.sources.models import load_model  # noqa: E402

from .tools.timing import paired_ratio, record, require_model  # noqa: E402

PLAIN_FORWARD_TARGET = 0.8
# Batching cannot remove FLOPs, only per-call overhead and small-GEMM inefficiency. On tiny-neox
# the overhead is most of a batch-1 call, so the target is 4×. On SmolLM2 (CPU, 2
# cores) a batch-1 forward is already a GEMM of ~100–300 rows near peak: a plain batched forward of
# the same tokens was measured at 2.4× batch size 1 (idle machine, 2026-11-26), so 4× is out of
# reach for any evaluator; its target is 2×, to keep the speedup we do get.
BATCH_ONE_SPEEDUP_TARGET = {"tiny-neox": 4.0, "smollm2": 2.0}
# A probe's 13 responses share its prompt; `score` runs the prompt once (`shared_prompt_rows`).
# On SmolLM2 at cpu-squeeze's 64/32 (16 HH probes) that cut an evaluation from 10.3 to 6.8 s in
# bf16 (2 idle cores, 2026-12-05): 1.5×. The synthetic probes here have shorter prompts, so less
# is shared; the target keeps a measurable gain. On tiny-neox a forward is per-call overhead, and
# two forwards per bucket instead of one may cost more than the tokens saved: reported only.
SHARED_PROMPT_TARGET = {"tiny-neox": None, "smollm2": 1.1}
MODELS = ["tiny-neox", pytest.param("smollm2", marks=pytest.mark.smollm2)]


def _probe_items(tokenizer, n_examples: int):
    examples, _ = load_examples("synthetic", limit=n_examples)
    items = []
    for ex in examples:
        responses = {t: ex.responses[t] for t in PROBE_TYPES if t in ex.responses}
        items.extend(tokenize_example(tokenizer, ex.prompt, responses).values())
    return items


@pytest.fixture(scope="module", params=MODELS)
def scored(request, quick):
    name = request.param
    require_model(name, quick)
    torch.set_num_threads(torch.get_num_threads())
    model, tokenizer = load_model(name)
    items = _probe_items(tokenizer, 8 if name == "smollm2" else 64)  # tiny: ~14k tokens
    return name, model, items, tokenizer.eos_token_id


def _plain_forward(model, items, pad_id, batch_tokens=4096):
    """The same padded batches as `score`, forward only: the evaluation floor."""
    with torch.no_grad():
        for index in length_buckets([len(it.ids) for it in items], batch_tokens):
            ids, attention, _ = collate([items[i] for i in index], pad_id)
            model(input_ids=ids, attention_mask=attention)


def _batch_of_one(model, items, pad_id):
    """The paper's way: one example at a time."""
    with torch.no_grad():
        for item in items:
            sequence_logps(model, *collate([item], pad_id))


def test_score_tokens_per_second_against_plain_forward(benchmark, scored):
    name, model, items, pad = scored
    t_plain, t_score = paired_ratio(
        benchmark,
        lambda: score(model, items, pad),
        lambda: _plain_forward(model, items, pad),
        rounds=5,
    )
    tokens = sum(len(it.ids) for it in items)
    ratio = t_plain / t_score
    benchmark.extra_info.update({"tokens": tokens, "score_tokens_per_s": tokens / t_score})
    record(
        benchmark,
        f"log-prob eval on {name}: tokens/s vs plain batched forward",
        f"≥ {PLAIN_FORWARD_TARGET}",
        ratio,
        "×",
        ratio >= PLAIN_FORWARD_TARGET,
    )
    assert ratio >= PLAIN_FORWARD_TARGET


def test_score_speedup_over_batch_size_one(benchmark, scored):
    name, model, items, pad = scored
    t_single, t_score = paired_ratio(
        benchmark,
        lambda: score(model, items, pad),
        lambda: _batch_of_one(model, items, pad),
        rounds=3,
    )
    speedup = t_single / t_score
    target = BATCH_ONE_SPEEDUP_TARGET[name]
    record(
        benchmark,
        f"log-prob eval on {name}: speedup over batch size 1",
        f"≥ {target}×",
        speedup,
        "×",
        speedup >= target,
    )
    assert speedup >= target
    with torch.no_grad():
        one_by_one = [float(sequence_logps(model, *collate([it], pad))[0]) for it in items[:4]]
    # fp32 forwards of padded vs unpadded batches differ by ~1e-6 relative; 1e-4 is generous.
    np.testing.assert_allclose(score(model, items[:4], pad)["logp"], one_by_one, rtol=1e-4)


def test_score_runs_each_prompt_once_for_its_responses(benchmark, scored):
    name, model, items, pad = scored
    t_padded, t_shared = paired_ratio(
        benchmark,
        lambda: score(model, items, pad),
        lambda: score(model, items, pad, share_prompts=False),
        rounds=3,
    )
    speedup, target = t_padded / t_shared, SHARED_PROMPT_TARGET[name]
    met = target is None or speedup >= target
    wanted = "(reported)" if target is None else f"≥ {target}×"
    record(
        benchmark, f"log-prob eval on {name}: prompts shared vs padded", wanted, speedup, "×", met
    )
    assert met
