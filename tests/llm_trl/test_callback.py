"""`LearningDynamicsCallback` inside transformers and trl trainers (tiny-neox, CPU, seconds each)."""

import json

import numpy as np
import pytest
import torch
from transformers import TrainerCallback

from common.errors import UserError
from common.probes import PROBE_TYPES, Y_STAR
from common.runs import read_metrics
from llm_validation.core.logprobs import naive_sequence_logp
from llm_validation.training.dynamics import squeezing, top_gains
from llm_validation.training.tracking import build_probes
from llm_validation.trl.callback import LearningDynamicsCallback

from .trainers import TRAINERS, dpo


def _values(csv_path, metric="logp"):
    """{(step, probe type): value} of one metric in a metrics.csv."""
    return {
        (int(r["step"]), r["probe_type"]): float(r["value"])
        for r in read_metrics(csv_path)
        if r["metric"] == metric
    }


def test_dpo_trainer_run_writes_every_probe_type_and_y_star_at_steps_0_k_2k(tmp_path, examples):
    """The callback's contract: DPOTrainer + callback for 4 steps with k = 2 → metrics.csv holds
    every probe type of the data and y* at steps 0, 2, 4; the trainer's log history holds
    ld/chosen/logp at the evaluated steps, the step-0 baseline included."""
    callback = LearningDynamicsCallback(
        examples[:6], eval_every=2, out=tmp_path / "run", progress=False
    )
    trainer = dpo(examples, tmp_path / "trainer", callback, steps=4)
    trainer.train()
    values = _values(tmp_path / "run" / "metrics.csv")
    present = {t for t in PROBE_TYPES if t in examples[0].responses} | {Y_STAR}
    for step in (0, 2, 4):
        assert {kind for s, kind in values if s == step} >= present
    assert {s for s, _ in values} == {0, 2, 4}
    logged = {
        h["step"]: h["ld/chosen/logp"] for h in trainer.state.log_history if "ld/chosen/logp" in h
    }
    assert sorted(logged) == [0, 2, 4]
    # The logged value is the very number written to metrics.csv (one scoring, two sinks).
    assert logged[4] == pytest.approx(values[4, "chosen"], rel=1e-12)
    # prompts.csv: the 6 probe prompts' own values at each step, whose mean is that number.
    prompts = [
        float(r["logp"])
        for r in read_metrics(tmp_path / "run" / "prompts.csv")
        if r["step"] == "4" and r["probe_type"] == "chosen"
    ]
    assert len(prompts) == 6
    assert sum(prompts) / 6 == pytest.approx(values[4, "chosen"], rel=1e-12)


def test_callback_scores_the_trainers_current_model(tmp_path, examples):
    """The last row of chosen/logp equals a naive per-example loop over the trained model, so
    the callback scored the updated weights (not a stale copy) with the audited conventions."""
    probes_in = examples[:4]
    callback = LearningDynamicsCallback(
        probes_in, eval_every=3, out=tmp_path / "run", progress=False
    )
    trainer = dpo(examples, tmp_path / "trainer", callback, steps=3)
    trainer.train()
    model = trainer.model.eval()
    probes = build_probes(callback.tokenizer, probes_in, callback.truncation, ["chosen"])
    naive = np.mean([naive_sequence_logp(model, item) for item in probes.items])
    start = _values(tmp_path / "run" / "metrics.csv")[0, "chosen"]
    last = _values(tmp_path / "run" / "metrics.csv")[3, "chosen"]
    # fp32 padded batches vs an unpadded float64-softmax loop: ~1e-6 relative; 1e-5 is generous
    # and still far below the training movement checked next.
    assert last == pytest.approx(naive, rel=1e-5)
    assert abs(last - start) > 1e-2


def _record_mode(modes):
    return lambda self, args, state, control, model=None, **kw: modes.append(model.training)


@pytest.mark.parametrize("name", list(TRAINERS))
def test_callback_works_with_each_trainer(tmp_path, examples, name):
    """Trainer, SFTTrainer, DPOTrainer (sigmoid, ipo, precomputed reference, PEFT LoRA) and
    CPOTrainer: two steps with eval_every=1 give chosen/logp at steps 0, 1, 2 that move, the
    trainer's log history holds ld/chosen/logp, and the model is back in train mode after each
    evaluation (the trainer keeps training it)."""
    callback = LearningDynamicsCallback(
        examples[:4], eval_every=1, out=tmp_path / "run", progress=False
    )
    trainer = TRAINERS[name](examples, tmp_path / "trainer", callback, steps=2)
    modes = []
    probe = type("ModeProbe", (TrainerCallback,), {"on_step_end": _record_mode(modes)})()
    trainer.add_callback(probe)
    trainer.train()
    values = _values(tmp_path / "run" / "metrics.csv")
    chosen = [values[s, "chosen"] for s in (0, 1, 2)]
    assert np.all(np.isfinite(chosen))
    assert abs(chosen[2] - chosen[0]) > 1e-4  # lr 1e-2 moves it by ~0.1-1; float noise ~1e-6
    assert any("ld/chosen/logp" in h for h in trainer.state.log_history)
    assert modes == [True, True]
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["method"] == METHOD_OF_TRAINER[name]  # what `trends` reads


METHOD_OF_TRAINER = {
    "Trainer": None,
    "SFTTrainer": "sft",
    "DPOTrainer": "dpo",
    "DPOTrainer-ipo": "ipo",
    "DPOTrainer-precomputed-reference": "dpo",
    "DPOTrainer-peft-lora": "dpo",
    "CPOTrainer": None,  # CPO's own sigmoid loss: none of our methods
}


def test_attach_puts_ld_values_in_front_of_reporting_integrations(tmp_path, examples):
    """transformers lists `report_to` integrations before user callbacks; `attach` puts the
    callback first, so a callback registered before it (standing in for TensorBoard / W&B)
    receives ld/chosen/logp in the same on_log call."""
    seen = []
    recorder = type(
        "Recorder",
        (TrainerCallback,),
        {"on_log": lambda self, args, state, control, logs=None, **kw: seen.append(dict(logs))},
    )()
    callback = LearningDynamicsCallback(
        examples[:4], eval_every=1, out=tmp_path / "run", progress=False
    )
    trainer = dpo(examples, tmp_path / "trainer", recorder, steps=1)
    callback.attach(trainer)
    trainer.train()
    assert any("ld/chosen/logp" in logs for logs in seen)


def test_summary_reports_the_squeezing_flag_and_where_the_mass_went(tmp_path, examples):
    """summary.json carries the squeezing flag (with its step when detected) and the top tokens
    that gained probability along y⁺; mass.jsonl has one entry per evaluation."""
    callback = LearningDynamicsCallback(
        examples[:6], eval_every=2, out=tmp_path / "run", progress=False, top_k=3
    )
    dpo(examples, tmp_path / "trainer", callback, steps=4).train()

    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert set(summary["squeezing"]) == {"detected", "step"}
    assert (summary["squeezing"]["step"] is not None) == summary["squeezing"]["detected"]
    gains = [m["gain"] for m in summary["mass_gained"]]
    assert len(gains) == 3 and gains == sorted(gains, reverse=True) and gains[0] > 0
    lines = (tmp_path / "run" / "mass.jsonl").read_text().splitlines()
    assert len(lines) == 3


def test_squeezing_signature_is_chosen_below_start_while_y_star_rises():
    """Sec. 4.2's signature: log π(y⁺) falls below its start while the argmax path y* rises."""
    start = {("chosen", "logp"): -30.0, (Y_STAR, "logp"): -20.0}
    assert squeezing({("chosen", "logp"): -31.0, (Y_STAR, "logp"): -19.0}, start)
    assert not squeezing({("chosen", "logp"): -31.0, (Y_STAR, "logp"): -21.0}, start)
    assert not squeezing({("chosen", "logp"): -29.0, (Y_STAR, "logp"): -19.0}, start)
    assert not squeezing({("rejected", "logp"): -31.0}, start)


def test_top_gains_are_the_largest_increases_of_the_mean_distribution():
    before = torch.tensor([0.5, 0.3, 0.1, 0.1], dtype=torch.float64)
    after = torch.tensor([0.2, 0.35, 0.35, 0.1], dtype=torch.float64)  # gains −.3, .05, .25, 0
    gains = top_gains(after, before, 2)
    assert [v for v, _ in gains] == [2, 1]
    assert gains[0][1] == pytest.approx(0.25)


@pytest.mark.parametrize(
    "probes, message",
    [
        ([{"prompt": "x", "chosen": ""}], "empty or non-string response 'chosen'"),
        ([], "non-empty list"),
        ("missing.jsonl", "data file not found"),
    ],
)
def test_bad_probes_are_a_one_line_user_error_before_training(probes, message):
    with pytest.raises(UserError, match=message):
        LearningDynamicsCallback(probes)


def test_eval_at_adds_evaluations_and_says_which_lie_beyond_the_run(tmp_path, examples, capsys):
    """Every 4 steps and at steps 1, 2 and 7 of a 5-step run: scored at 0, 1, 2, 4 and 5 (the
    last); step 7 is named as beyond the run, not skipped in silence."""
    callback = LearningDynamicsCallback(
        examples[:4], eval_every=4, eval_at=(2, 1, 7), out=tmp_path / "run", progress=False
    )
    dpo(examples, tmp_path / "trainer", callback, steps=5).train()
    assert {s for s, _ in _values(tmp_path / "run" / "metrics.csv")} == {0, 1, 2, 4, 5}
    assert "eval_at: evaluation step(s) 7 lie beyond the run's 5 steps" in capsys.readouterr().err


@pytest.mark.parametrize("eval_at", [(0,), (2, -1), (1.5,), ("3",), (True,)])
def test_eval_at_takes_only_steps_at_least_one(examples, eval_at):
    with pytest.raises(UserError, match="eval_at must be optimiser steps ≥ 1"):
        LearningDynamicsCallback(examples, eval_at=eval_at)


def test_unknown_probe_type_is_a_user_error(examples):
    with pytest.raises(UserError, match="unknown probe types: chosen_typo"):
        LearningDynamicsCallback(examples, probe_types=["chosen_typo"])


def test_the_callbacks_out_folder_is_never_clobbered(tmp_path, examples):
    """A second training run whose callback writes into a finished run's folder is
    refused before its first step (the folder byte-identical); overwrite=True replaces it."""
    out = tmp_path / "run"
    first = LearningDynamicsCallback(examples[:4], eval_every=2, out=out, progress=False)
    dpo(examples, tmp_path / "trainer", first, steps=2).train()
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    again = LearningDynamicsCallback(examples[:4], eval_every=2, out=out, progress=False)
    with pytest.raises(UserError, match="already holds a run .* pass --overwrite"):
        dpo(examples, tmp_path / "trainer2", again, steps=2).train()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    replace = LearningDynamicsCallback(
        examples[:4], eval_every=1, out=out, progress=False, overwrite=True
    )
    dpo(examples, tmp_path / "trainer3", replace, steps=2).train()
    assert {s for s, _ in _values(out / "metrics.csv")} == {0, 1, 2}
