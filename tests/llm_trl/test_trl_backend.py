"""`python -m llm_validation run --backend trl`: every method, the agreement with the native
backend, one-line errors, and the two-process torchrun run."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from common.methods import METHODS, plan
from llm_validation.cli import main
from llm_validation.trl.backend import SETTINGS

from .test_multiprocess import TORCHRUN, assert_same_metrics, launch, rows

TINY = ["--model", "tiny-neox", "--data", "synthetic", "--limit", "16", "--no-checkpoint"]


def run(out: Path, *flags: str) -> int:
    return main(["run", *TINY, "--out", str(out), *flags])


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_runs_through_trl_and_writes_the_native_run_files(tmp_path, method):
    """sft, dpo, ipo, slic, rpo, simpo, extend-dpo, onpolicy-dpo: two steps each (extend-dpo:
    two SFT steps, then two DPO steps) write config.json, metrics.csv with chosen/logp at every step, and
    summary.json, as `--backend native` does; the probes move."""
    flags = [
        "--backend",
        "trl",
        "--method",
        method,
        "--steps",
        "2",
        "--sft-steps",
        "2",
        "--eval-every",
        "1",
        "--optimizer",
        "sgd",
        "--lr",
        "0.5",
    ]
    assert run(tmp_path / "run", *flags) == 0
    files = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"config.json", "metrics.csv", "summary.json"} <= files
    assert json.loads((tmp_path / "run" / "config.json").read_text())["backend"] == "trl"
    values = rows(tmp_path / "run" / "metrics.csv")
    last = 4 if method == "extend-dpo" else 2
    chosen = [values[str(s), "chosen", "logp"] for s in range(last + 1)]
    assert abs(chosen[-1] - chosen[0]) > 0.1  # lr 0.5 moves it by ~1-6 nats
    assert ("1", "train", "loss") in values
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["phases"] == [p.record() for p in plan(method, 2, sft_steps=2)]


def test_trl_methods_cover_every_native_method():
    """Every phase of every registered method has its trl trainer's settings."""
    phases = [p for method in METHODS for p in plan(method, 1)]
    assert {(p.trainer_config, p.loss) for p in phases} <= set(SETTINGS)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--method", "onpolicy-dpo", "--reward", "no_such_module:f"], "cannot load reward"),
        (["--resume"], "--resume needs --backend native"),
        (
            ["--track-kernel", "2"],
            "--track-kernel, --save-arrays and --probe-offset need --backend native",
        ),
        # trl splits a step into equal micro-batches; native allows a short last one
        (["--batch-size", "4", "--micro-batch-size", "3"], "does not split into 1 processes"),
    ],
)
def test_what_trl_cannot_run_is_a_one_line_error(tmp_path, capsys, flags, message):
    assert run(tmp_path / "run", "--backend", "trl", *flags) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "run").exists()  # rejected before a model loads or a file is written


def test_trl_and_native_backends_give_the_same_probe_curves(tmp_path):
    """DPO, plain SGD (η = 0.5, large enough to move log π(y⁺) by ~2 nats and log π(y⁻) by
    ~3.5 in 6 steps), the same data order (native's seeded permutation), one process, a
    precomputed reference: both backends' metrics.csv hold the same rows and values, evaluated on
    the same schedule (every 4 steps, at steps 1 and 3, and the last).

    Tolerance 1e-4 nats (measured ≤ 1e-6): both sum the same fp32 token log-probs in the same
    sequences; trl's fused LM head computes them in tiles and our scorer with one log-sum-exp, and
    trl pads [chosen; rejected] in one batch where native pads its own way, so the fp32 forwards
    differ by ~1e-7 relative and six SGD steps carry that forward.

    Conventions that differ between the backends, and why none arises in this test:
    - prompt/response boundary: trl tokenises prompt + response together and splits at the common
      prefix, native tokenises them apart; the synthetic prompt ends in "Assistant:" and every
      response starts with " word", a pre-tokenizer boundary, so the ids are the same;
    - truncation: trl cuts to max_length keeping the start, native cuts the prompt first
      (512 / 256); nothing here is near 512 tokens;
    - loss normalisation: trl's SFT term and SFTTrainer take a token mean over the batch, its ipo
      token-mean log-ratios, its slic hinge the reference-corrected margin; DPO (tested) uses
      sequence sums and a batch mean in both;
    - optimiser: transformers' AdamW does not decay biases and norms; plain SGD (tested) has no
      weight decay in either.
    """
    flags = [
        "--method",
        "dpo",
        "--steps",
        "6",
        "--eval-every",
        "4",
        "--eval-at",
        "1,3",
        "--optimizer",
        "sgd",
        "--lr",
        "0.5",
    ]
    assert run(tmp_path / "native", "--backend", "native", *flags) == 0
    assert run(tmp_path / "trl", "--backend", "trl", *flags) == 0
    native, trl = rows(tmp_path / "native" / "metrics.csv"), rows(tmp_path / "trl" / "metrics.csv")
    assert native.keys() == trl.keys()
    assert {int(step) for step, _, _ in native} == {0, 1, 3, 4, 6}  # every 4, at 1 and 3, last
    keys = sorted(native)
    np.testing.assert_allclose([trl[k] for k in keys], [native[k] for k in keys], rtol=0, atol=1e-4)
    assert native["6", "rejected", "logp"] < native["0", "rejected", "logp"] - 1.0


@pytest.mark.skipif(not Path(TORCHRUN).exists(), reason="torchrun is not installed")
def test_torchrun_two_processes_writes_the_single_process_metrics(tmp_path):
    """The command `torchrun --nproc_per_node 2 -m llm_validation run --backend trl
    --method dpo --model tiny-neox --data synthetic --steps 4 --eval-every 2 --out DIR`, against
    the same command in one process: same rows, values within 1e-5 (see assert_same_metrics)."""
    command = [
        "-m",
        "llm_validation",
        "run",
        "--backend",
        "trl",
        "--method",
        "dpo",
        "--model",
        "tiny-neox",
        "--data",
        "synthetic",
        "--steps",
        "4",
        "--eval-every",
        "2",
        "--out",
    ]
    launch([sys.executable, *command, str(tmp_path / "one")], tmp_path)
    launch([TORCHRUN, "--nproc_per_node", "2", *command, str(tmp_path / "two")], tmp_path)
    assert_same_metrics(tmp_path / "one" / "metrics.csv", tmp_path / "two" / "metrics.csv")
    assert {"config.json", "summary.json"} <= {p.name for p in (tmp_path / "two").iterdir()}


# Each method's mapping onto trl's trainers, pinned without training.


def _phases(method, **flags):
    from llm_validation.config import RunConfig
    from llm_validation.trl.backend import trl_phases

    return trl_phases(RunConfig(method=method, steps=6, **flags))


def _trainers(phases):
    return [(p.trainer, p.steps, p.data, p.settings) for p in phases]


def test_each_method_maps_onto_its_trl_trainer_with_its_hyper_parameters_transformed():
    assert _trainers(_phases("sft")) == [("SFTTrainer", 6, "pairs", {})]
    assert _trainers(_phases("dpo", beta=0.2)) == [
        ("DPOTrainer", 6, "pairs", {"loss_type": ["sigmoid"], "beta": 0.2})
    ]
    assert _phases("ipo", beta=0.3)[0].settings == {"loss_type": ["ipo"], "beta": 0.3}
    # trl's hinge relu(1 − β h) with β = 1/δ, weighted δ, is relu(δ − h); λ weighs the sft term
    assert _phases("slic", delta=4.0, lam=0.5)[0].settings == {
        "loss_type": ["hinge", "sft"],
        "beta": 0.25,
        "loss_weights": [4.0, 0.5],
    }
    assert _phases("rpo", alpha=2.0)[0].settings["loss_weights"] == [1.0, 2.0]
    assert _trainers(_phases("simpo", beta=2.5, gamma=0.7)) == [
        (
            "CPOTrainer",
            6,
            "pairs",
            {"loss_type": "simpo", "cpo_alpha": 0.0, "beta": 2.5, "simpo_gamma": 0.7},
        )
    ]


@pytest.mark.parametrize("method, sft_data", [("extend-dpo", "both"), ("sft-dpo", "pairs")])
def test_two_phase_methods_run_sft_for_sft_steps_then_dpo(method, sft_data):
    sft, dpo = _phases(method, sft_steps=2)
    assert (sft.trainer, sft.steps, sft.data) == ("SFTTrainer", 2, sft_data)
    assert (dpo.trainer, dpo.steps, dpo.settings["loss_type"]) == ("DPOTrainer", 6, ["sigmoid"])
    assert _phases(method)[0].steps == 6  # sft_steps defaults to --steps


def test_the_extensions_sft_rows_are_every_y_plus_then_every_y_minus_in_native_order():
    """The order of native `phase_data` (rows [0, N) y⁺, [N, 2N) y⁻), batched as native."""
    from llm_validation.config import RunConfig
    from llm_validation.sources.synthetic import generate
    from llm_validation.training.runtime import batch_indices
    from llm_validation.trl.backend import TrlPhase, _rows

    examples = generate(3, seed=0)
    cfg = RunConfig(method="extend-dpo", batch_size=2)
    sft, _ = plan("extend-dpo", 6, sft_steps=3)
    rows = _rows(examples, TrlPhase(sft), cfg, seed=5)
    both = [e.chosen for e in examples] + [e.rejected for e in examples]
    order = [i for s in range(3) for i in batch_indices(6, 2, s, 5)]
    assert [r["completion"] for r in rows] == [both[i] for i in order]


def test_trl_cuts_counts_what_keep_start_truncation_removes():
    """A response loses its tokens beyond max_length (all of them once the prompt alone is
    longer); nothing is cut when everything fits."""
    from llm_validation.sources.examples import Example
    from llm_validation.sources.tiny import build_tokenizer
    from llm_validation.trl.backend import trl_cuts

    tokenizer = build_tokenizer()

    def length(text):
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    ex = Example("sort red cat", {"chosen": " cat red", "rejected": " red"})
    p, c, r = length(ex.prompt), length(ex.chosen) + 1, length(ex.rejected) + 1
    assert trl_cuts(tokenizer, [ex], p + c).cut == {}  # fits exactly
    report = trl_cuts(tokenizer, [ex], p + 1)
    assert report.cut == {"chosen": 1, "rejected": 1}
    assert report.largest == {"chosen": c - 1, "rejected": r - 1}
    assert trl_cuts(tokenizer, [ex], p - 1).largest == {"chosen": c, "rejected": r}
    assert trl_cuts(tokenizer, [ex], p - 1).prompts_cut == 1


def test_eval_at_counts_steps_across_the_trl_phases(tmp_path, capsys):
    """extend-dpo through trl, 2 SFT + 2 DPO steps, every 4 and at 3: step 3 is a DPO step of the
    whole run (evaluated, not named as beyond the SFT trainer's 2 steps); 9 is beyond the run's 4."""
    flags = ["--backend", "trl", "--method", "extend-dpo", "--steps", "2", "--sft-steps", "2"]
    assert run(tmp_path / "run", *flags, "--eval-every", "4", "--eval-at", "3,9") == 0
    steps = {int(step) for step, _, _ in rows(tmp_path / "run" / "metrics.csv")}
    assert steps == {0, 2, 3, 4}  # 2: the SFT trainer's last step, scored as each trainer's is
    err = capsys.readouterr().err
    assert "evaluation step(s) 9 lie beyond the run's 4 steps" in err
    assert "step(s) 3," not in err and "step(s) 3 " not in err
