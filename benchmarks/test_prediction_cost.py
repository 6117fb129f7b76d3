"""Targets 4 and 5: the first-order prediction's cost per probe, and the eNTK's memory at V = 49,152.

4. `predict_step` gives every probe's predicted Δ log π for one update; per probe it should cost
   at most 3× one plain forward + backward of that probe (it is one forward + backward plus a
   dot product over the P parameters).
5. The implicit eNTK contraction A·K·G for one pair of 64-token responses at V = 49,152 must peak
   under 4 GB: measured as the max resident set size (ru_maxrss) of a fresh process, which counts
   Python, torch and the model too.
"""

import json
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from common.probes import PROBE_TYPES  # noqa: E402
from llm_validation.core.first_order import forward_backward_seconds, predict_step  # noqa: E402
from llm_validation.core.logprobs import tokenize_example  # noqa: E402
from llm_validation.sources.data import load_examples  # noqa: E402
from llm_validation.sources.models import load_model  # noqa: E402

from .tools.timing import paired_ratio, record  # noqa: E402

PREDICTION_COST_TARGET = 3.0
ENTK_PEAK_TARGET_BYTES = 4e9


def test_prediction_cost_per_probe_against_forward_backward(benchmark, quick):
    model, tokenizer = load_model("tiny-neox")
    pad = tokenizer.eos_token_id
    (example,), _ = load_examples("synthetic", limit=1)
    responses = {t: example.responses[t] for t in PROBE_TYPES if t in example.responses}
    items = tokenize_example(tokenizer, example.prompt, responses)
    probes = list(items.values())
    t_fb, t_predict = paired_ratio(
        benchmark,
        lambda: predict_step(model, items, pad, "dpo", "sgd"),
        lambda: forward_backward_seconds(model, probes, pad),
        rounds=3 if quick else 7,
    )
    # Both sides are timed over the same probes (the prediction of every probe of one update, and
    # one forward+backward of each), so their ratio is the cost per probe.
    ratio = t_predict / t_fb
    record(
        benchmark,
        "first-order prediction per probe vs one forward+backward (tiny-neox)",
        f"≤ {PREDICTION_COST_TARGET}×",
        ratio,
        "×",
        ratio <= PREDICTION_COST_TARGET,
    )
    assert ratio <= PREDICTION_COST_TARGET


_CHILD = """
import json, resource, torch, transformers
from llm_validation.core import entk
torch.manual_seed(0)
config = transformers.GPTNeoXConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
    intermediate_size=64, vocab_size=49152, attn_implementation="eager")
model = transformers.GPTNeoXForCausalLM(config).eval()
n = {n_tokens}
ids = torch.randint(0, 49152, (2, n + 8), generator=torch.Generator().manual_seed(0))
chi_o, chi_u = entk.Chi.from_ids(ids[0], 8), entk.Chi.from_ids(ids[1], 8)
def residual(chi):
    pi = torch.softmax(model(chi.input_ids[None]).logits[0, chi.positions].detach(), -1)
    return torch.nn.functional.one_hot(chi.targets, 49152) - pi
k_a_g = entk.kernel_contract(model, entk.param_subset(model, "all"), chi_o, chi_u,
                             residual(chi_o), -residual(chi_u))
print(json.dumps({{"peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "shape": list(k_a_g.shape)}}))
"""


def test_entk_peak_memory_at_v49152(benchmark, quick):
    n_tokens = 32 if quick else 64
    out = {}

    def measure():
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD.format(n_tokens=n_tokens)],
            capture_output=True,
            text=True,
            check=True,
        )
        out.update(json.loads(proc.stdout.strip().splitlines()[-1]))

    benchmark.pedantic(measure, rounds=1, iterations=1)
    assert out["shape"] == [n_tokens, n_tokens]
    peak = out["peak"]
    record(
        benchmark,
        f"eNTK A·K·G peak RSS, {n_tokens}-token pair, V = 49,152",
        "< 4 GB",
        peak / 1e9,
        "GB",
        peak < ENTK_PEAK_TARGET_BYTES,
    )
    assert peak < ENTK_PEAK_TARGET_BYTES
