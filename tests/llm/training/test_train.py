"""The training loop on tiny models: SFT raises log π(y⁺), parameters move, resume is exact."""

import json

import pytest
import torch

from common.methods import METHODS, plan
from common.runs import read_metrics
from llm_validation.config import RunConfig
from llm_validation.sources.models import load_model
from llm_validation.training.checkpoint import CHECKPOINT
from llm_validation.training.train import batch_indices, main

TINY = dict(
    model="tiny-neox",
    data="synthetic",
    limit=8,
    probe_limit=4,
    batch_size=4,
    optimizer="adamw",
    lr=3e-3,
)


def _logp(rows, step, kind):
    return next(
        float(r["value"])
        for r in rows
        if int(r["step"]) == step and r["probe_type"] == kind and r["metric"] == "logp"
    )


def test_sft_steps_raise_the_chosen_log_prob(tmp_path):
    """SFT descends −log π(y⁺|x), so a few steps raise the tracked chosen log-prob (Eq. 5)."""
    cfg = RunConfig(method="sft", steps=6, eval_every=3, out=str(tmp_path), **TINY)
    rows = read_metrics(main(cfg) / "metrics.csv")
    assert _logp(rows, 6, "chosen") > _logp(rows, 0, "chosen") + 1.0


@pytest.mark.parametrize("model", ["tiny-neox", "tiny-llama"])
def test_every_parameter_moves_after_a_dpo_step(tmp_path, model):
    """At π_ref = π the DPO residual is β/2 (e_{y⁻} − e_{y⁺} + …) ≠ 0, so one AdamW step moves
    every parameter tensor (embeddings, attention, MLP, norms, unembedding)."""
    cfg = RunConfig(
        method="dpo", steps=1, eval_every=1, out=str(tmp_path), **{**TINY, "model": model}
    )
    main(cfg)
    initial, _ = load_model(model, seed=0)
    trained = torch.load(tmp_path / CHECKPOINT, weights_only=True)["model"]
    frozen = [name for name, p in initial.named_parameters() if torch.equal(p, trained[name])]
    assert frozen == []


def test_eval_at_adds_evaluations_counted_across_phases_and_names_those_beyond_the_run(
    tmp_path, capsys
):
    """extend-dpo, 2 SFT + 2 DPO steps, every 4 and at 1, 3 and 9: probes are scored at steps
    0, 1, 3 (a DPO step: steps count across phases) and 4; step 9 is said to lie beyond the run."""
    cfg = RunConfig(
        method="extend-dpo",
        steps=2,
        sft_steps=2,
        eval_every=4,
        eval_at="3,1,9",
        out=str(tmp_path),
        **TINY,
    )
    rows = read_metrics(main(cfg) / "metrics.csv")
    assert sorted({int(r["step"]) for r in rows}) == [0, 1, 3, 4]
    assert "--eval-at: evaluation step(s) 9 lie beyond the run's 4 steps" in capsys.readouterr().err


@pytest.mark.parametrize("method", ["dpo", "extend-dpo"])
def test_interrupted_then_resumed_run_writes_the_same_metrics(tmp_path, method):
    """An interruption after step 6 (inside extend-dpo's DPO phase, after its reference was taken)
    followed by --resume gives byte-identical metrics.csv to the uninterrupted run."""
    common = dict(method=method, steps=4, sft_steps=4, eval_every=2, **TINY)
    whole = main(RunConfig(out=str(tmp_path / "whole"), **common))

    def interrupt(step):
        if step == 6 if method == "extend-dpo" else step == 2:
            raise KeyboardInterrupt

    parted = RunConfig(out=str(tmp_path / "parted"), **common)
    with pytest.raises(KeyboardInterrupt):
        main(parted, on_eval=interrupt)
    resumed = main(RunConfig(out=str(tmp_path / "parted"), resume=True, **common))
    assert (resumed / "metrics.csv").read_text() == (whole / "metrics.csv").read_text()
    assert (resumed / "prompts.csv").read_text() == (whole / "prompts.csv").read_text()


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_runs_and_logs_finite_losses(tmp_path, method):
    """Each method trains two steps and logs finite probe metrics and training loss."""
    cfg = RunConfig(
        method=method,
        steps=2,
        sft_steps=1,
        eval_every=1,
        max_new_tokens=6,
        out=str(tmp_path),
        **{**TINY, "limit": 4, "batch_size": 2},
    )
    rows = read_metrics(main(cfg) / "metrics.csv")
    values = [float(r["value"]) for r in rows]
    assert all(v == v and abs(v) < float("inf") for v in values)
    last = max(int(r["step"]) for r in rows)
    assert last == (3 if method in ("extend-dpo", "sft-dpo") else 2)  # SFT step + 2 DPO steps
    assert {"chosen", "rejected", "y_star", "train"} <= {r["probe_type"] for r in rows}
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["phases"] == [p.record() for p in plan(method, 2, sft_steps=1)]


def test_run_folder_holds_config_metrics_and_summary(tmp_path):
    """runs/<name>/ has config.json (the resolved config), tidy metrics.csv and summary.json
    (the run format of `common.runs`); examples_seen = step × batch size."""
    out = main(
        RunConfig(method="dpo", steps=2, eval_every=1, out=str(tmp_path), save_arrays=True, **TINY)
    )
    assert json.loads((out / "config.json").read_text())["method"] == "dpo"
    rows = read_metrics(out / "metrics.csv")
    assert list(rows[0]) == ["step", "examples_seen", "probe_type", "metric", "value"]
    assert all(int(r["examples_seen"]) == 4 * int(r["step"]) for r in rows)
    assert json.loads((out / "summary.json").read_text())["steps"] == 2
    assert sorted(p.name for p in (out / "arrays").iterdir()) == [
        "step_000000.npz",
        "step_000001.npz",
        "step_000002.npz",
    ]


def test_prompts_csv_holds_each_probe_prompts_log_prob_whose_mean_is_logp(tmp_path):
    """prompts.csv has one row per (evaluation, probe type, probe prompt), keyed by the prompt's
    id; at each evaluation the mean over prompts is metrics.csv's `logp` (what `trends`' intervals
    resample)."""
    out = main(RunConfig(method="dpo", steps=2, eval_every=1, out=str(tmp_path), **TINY))
    rows = read_metrics(out / "prompts.csv")
    assert list(rows[0]) == ["step", "probe_type", "prompt", "logp"]
    chosen = [r for r in rows if r["probe_type"] == "chosen"]
    assert len(chosen) == 3 * 4  # 3 evaluations × 4 probe prompts
    assert len({r["prompt"] for r in chosen}) == 4
    metrics = read_metrics(out / "metrics.csv")
    for step in (0, 1, 2):
        for kind in ("chosen", "rejected", "y_star"):
            values = [
                float(r["logp"]) for r in rows if r["probe_type"] == kind and int(r["step"]) == step
            ]
            assert len(values) == 4
            assert sum(values) / 4 == pytest.approx(_logp(metrics, step, kind), rel=1e-12)


def test_batches_are_a_pure_function_of_seed_and_step():
    """Step s reads slice s of the per-epoch permutations: every example once per epoch."""
    epoch = [i for s in range(3) for i in batch_indices(12, 4, s, seed=5)]
    assert sorted(epoch) == list(range(12))
    assert batch_indices(12, 4, 7, seed=5) == batch_indices(12, 4, 7, seed=5)


def test_precomputed_reference_trains_like_a_frozen_copy(tmp_path):
    """π_ref as log-probs computed once (length-bucketed) or as a frozen model copy evaluated
    each step gives the same DPO run (up to float32 round-off of different batch shapes)."""
    runs = {}
    for reference in ("precomputed", "copy"):
        cfg = RunConfig(
            method="dpo",
            steps=3,
            eval_every=3,
            reference=reference,
            out=str(tmp_path / reference),
            **TINY,
        )
        runs[reference] = [float(r["value"]) for r in read_metrics(main(cfg) / "metrics.csv")]
    assert runs["precomputed"] == pytest.approx(runs["copy"], rel=1e-5, abs=1e-6)


def test_bf16_autocast_trains_close_to_fp32_but_not_identically(tmp_path):
    """`--precision bf16` runs the forward passes under bf16 autocast (on CPU too): an SFT run
    follows the fp32 run to bf16's precision (8 mantissa bits, relative error ~4e-3 per op, so a
    few per cent over six steps of a tiny model), and differs from it, so autocast was on."""
    curves = {}
    for precision in ("fp32", "bf16"):
        cfg = RunConfig(
            method="sft",
            steps=6,
            eval_every=3,
            precision=precision,
            out=str(tmp_path / precision),
            **TINY,
        )
        rows = read_metrics(main(cfg) / "metrics.csv")
        curves[precision] = [_logp(rows, s, "chosen") for s in (0, 3, 6)]
    fp32, bf16 = curves["fp32"], curves["bf16"]
    assert bf16 != fp32
    assert bf16[-1] > bf16[0] + 1.0  # SFT still raises the trained response under bf16
    assert bf16 == pytest.approx(fp32, rel=0.05)


def test_warmup_is_the_dpo_repos_linear_ramp_per_phase():
    from llm_validation.training.train import warmup_factor

    assert [warmup_factor(s, 3) for s in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]
    assert warmup_factor(0, 0) == 1.0


def test_warmup_scales_the_first_sgd_steps(tmp_path):
    """Plain SGD: with a 2-step warmup the first step moves θ by a third of the un-warmed step
    (η·1/3), so the first evaluation's chosen log-prob moves about a third as far."""
    moves = {}
    for warmup in (0, 2):
        cfg = RunConfig(
            method="sft",
            steps=1,
            eval_every=1,
            warmup_steps=warmup,
            out=str(tmp_path / str(warmup)),
            **{**TINY, "optimizer": "sgd", "lr": 1e-3},
        )
        rows = read_metrics(main(cfg) / "metrics.csv")
        moves[warmup] = _logp(rows, 1, "chosen") - _logp(rows, 0, "chosen")
    assert moves[2] == pytest.approx(moves[0] / 3, rel=0.02)  # first order in η: 2 % slack


def test_probe_offset_tracks_another_selection_of_the_training_prompts(tmp_path):
    """--probe-offset 2 --probe-limit 2: prompts.csv holds examples 3 and 4, not the first two."""
    from common.runs import PROMPTS, prompt_id
    from llm_validation.sources.data import load_examples

    examples, _ = load_examples("synthetic", limit=8, seed=0)
    ids = {}
    for offset in (0, 2):
        cfg = RunConfig(
            method="sft",
            steps=1,
            eval_every=1,
            out=str(tmp_path / f"o{offset}"),
            **{**TINY, "probe_offset": offset, "probe_limit": 2},
        )
        ids[offset] = {r["prompt"] for r in read_metrics(main(cfg) / PROMPTS)}
    assert ids[0] == {prompt_id(ex.prompt) for ex in examples[:2]}
    assert ids[2] == {prompt_id(ex.prompt) for ex in examples[2:4]}


def test_a_held_out_run_probes_prompts_it_never_trains_on(tmp_path):
    """--hold-out 3: the last 3 of 8 examples are the probes and the first 5 the training pairs."""
    from common.runs import PROMPTS, prompt_id
    from llm_validation.sources.data import load_examples

    examples, _ = load_examples("synthetic", limit=8, seed=0)
    cfg = RunConfig(method="dpo", steps=2, eval_every=1, out=str(tmp_path), **TINY, hold_out=3)
    out = main(cfg)
    assert {r["prompt"] for r in read_metrics(out / PROMPTS)} == {
        prompt_id(ex.prompt) for ex in examples[5:]
    }
    summary = json.loads((out / "summary.json").read_text())
    assert summary["inputs"]["held_out"] == {"training": 5, "probes": 3, "dropped": 0}


@pytest.mark.parametrize("offset", [-1, 8])
def test_a_probe_offset_that_leaves_no_probe_is_one_line_before_the_model_loads(tmp_path, offset):
    from common.errors import UserError

    with pytest.raises(UserError, match="--probe-offset"):  # -1: where the config is built
        main(
            RunConfig(method="sft", steps=1, out=str(tmp_path), **{**TINY, "probe_offset": offset})
        )
