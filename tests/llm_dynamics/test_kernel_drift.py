"""`run --track-kernel`: the relative-influence matrix and the trajectory predictions along a run
(the paper's stable-kernel assumption, Sec. 2, measured)."""

import csv
import json

import numpy as np
import pytest
import torch

from common.runs import read_metrics
from llm_validation.cli import main as cli
from llm_validation.config import RunConfig
from llm_validation.core.drift import drift, row_normalised, sequence_gradient
from llm_validation.core.logprobs import tokenize_example
from llm_validation.sources.models import load_model
from llm_validation.sources.synthetic import generate
from llm_validation.training.train import main

TINY = dict(
    model="tiny-neox",
    data="synthetic",
    limit=8,
    probe_limit=1,
    batch_size=4,
    optimizer="sgd",
    eval_every=4,
    checkpoint=False,
    track_kernel=1,
)


def run(tmp_path, name, **kw):
    return main(RunConfig(out=str(tmp_path / name), **{**TINY, **kw}))


def final_drift(out, subset="all"):
    rows = [
        r for r in read_metrics(out / "metrics.csv") if r["metric"] == f"drift_correlation_{subset}"
    ]
    return float(rows[-1]["value"])


def test_the_head_gradient_in_closed_form_equals_autograd_on_an_untied_head():
    """Σ_l (e_{y_l} − π_l) h_lᵀ is ∇_{W_U} log π(y|x): tiny-neox's head is untied, so autograd's
    gradient of that parameter must equal it (fp32: 1e-5 of its scale)."""
    model, tok = load_model("tiny-neox", seed=0)
    ex = generate(1, seed=3)[0]
    item = tokenize_example(tok, ex.prompt, {"y": ex.chosen})["y"]
    g = sequence_gradient(model, item, tok.eos_token_id)
    params = [p for p in model.parameters() if p.requires_grad]
    head = model.get_output_embeddings().weight
    i = next(i for i, p in enumerate(params) if p is head)
    start = sum(p.numel() for p in params[:i])
    autograd = g.all[start : start + head.numel()]  # the head's block of the flat gradient
    assert model.get_output_embeddings().bias is None and g.unembed.numel() == head.numel()
    torch.testing.assert_close(
        g.unembed, autograd, rtol=1e-5, atol=1e-5 * float(autograd.abs().max())
    )


def test_drift_measures_are_zero_for_the_same_matrix_and_see_a_changed_row():
    m = np.array([[1.0, -2.0, 0.5], [0.3, 0.1, -0.2]])
    assert drift(m, 3 * m) == {"correlation": pytest.approx(1.0), "max_change": pytest.approx(0.0)}
    moved = m.copy()
    moved[1] = [-0.2, 0.1, 0.3]
    d = drift(m, moved)
    assert d["correlation"] < 0.9
    assert d["max_change"] == pytest.approx(np.abs(row_normalised(moved) - row_normalised(m)).max())


def test_a_larger_learning_rate_drifts_more_over_the_same_examples(tmp_path):
    """Same data, same 8 SGD steps: η = 0.1 moves the relative influence further from its
    start than η = 0.01 (the stable-kernel picture holds longer for small steps)."""
    small = final_drift(run(tmp_path, "small", method="sft", steps=8, lr=0.01, track_intervals=""))
    large = final_drift(run(tmp_path, "large", method="sft", steps=8, lr=0.1, track_intervals=""))
    assert 1 - large > 2 * (1 - small) and small > large


def test_trajectory_predictions_agree_at_one_step_and_the_per_step_one_stays_accurate(tmp_path):
    out = run(tmp_path, "dpo", method="dpo", steps=8, lr=0.05, track_intervals="1,8")
    with (out / "trajectory.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    one = [r for r in rows if r["interval"] == "1"]
    assert len(one) == 8 * len({r["probe"] for r in one})
    assert all(r["fixed_kernel"] == r["per_step"] for r in one)  # S = 1: the same prediction
    summary = json.loads((out / "drift.json").read_text())
    table = {(t["interval"], t["prediction"]): t for t in summary["trajectory"]}
    assert table[(1, "per_step")]["pearson_r"] > 0.99
    assert table[(8, "per_step")]["relative_error"] < table[(8, "fixed_kernel")]["relative_error"]


def test_drift_command_prints_both_tables_and_refuses_an_untracked_run(tmp_path, capsys):
    out = run(tmp_path, "sft", method="sft", steps=4, lr=0.05, track_intervals="1,4")
    assert cli(["drift", "--run", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {d["subset"] for d in summary["drift"]} == {"all", "unembed"}
    assert {t["interval"] for t in summary["trajectory"]} == {1, 4}
    assert cli(["drift", "--run", str(tmp_path)]) == 2
    assert "record it with `run --track-kernel K`" in capsys.readouterr().err
