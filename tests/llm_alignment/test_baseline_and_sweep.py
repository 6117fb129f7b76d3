"""The experiment's pieces: the sft-dpo baseline, DPO's negative-term weight, `--save-model`."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
simulator = pytest.importorskip("simulator")

from llm_validation.config import RunConfig  # noqa: E402
from llm_validation.core.losses import evaluate_loss  # noqa: E402
from llm_validation.training.methods import plan_of  # noqa: E402
from tests.llm.core.test_losses import _responses, _torch_logp  # noqa: E402


def test_baseline_and_extension_see_the_same_examples_in_each_stage():
    """sft-dpo (SFT on y⁺) and extend-dpo (SFT on y⁺ and y⁻) differ only in the SFT data: same
    losses, same steps per phase, so the same number of examples seen per stage."""
    cfg = dict(steps=7, sft_steps=5, batch_size=4)
    base, ext = (
        plan_of(RunConfig(method="sft-dpo", **cfg)),
        plan_of(RunConfig(method="extend-dpo", **cfg)),
    )
    assert (
        [(p.first_step, p.loss, p.steps) for p in base]
        == [(p.first_step, p.loss, p.steps) for p in ext]
        == [(0, "sft", 5), (5, "dpo", 7)]
    )
    assert [p.data for p in base] == ["pairs", "pairs"]
    assert [p.data for p in ext] == ["both", "pairs"]


@pytest.mark.parametrize("neg_weight", [0.0, 0.5, 2.0])
def test_weighted_dpo_on_torch_matches_numpy_residual_and_its_closed_form(neg_weight):
    """L = −log σ(β(Δ⁺ − w Δ⁻)): autograd on the logits (torch) equals the simulator's numpy
    G = c⁺(e_{y⁺} − π) + c⁻(e_{y⁻} − π), and c⁺ = −β(1 − a), c⁻ = w β(1 − a), a = σ(β h_w)."""
    rng = np.random.default_rng(3)
    z = rng.normal(size=(30, 9)) * 2
    ref_z = z + rng.normal(size=z.shape) * 0.5
    groups = {"chosen": _responses(rng, 30, 9, [3, 2]), "rejected": _responses(rng, 30, 9, [1, 4])}
    value, g = simulator.loss_and_residual(
        "dpo", z, simulator.UpdateBatch(groups), ref_z, neg_weight=neg_weight
    )
    z_t = torch.tensor(z, requires_grad=True)
    logp, ref = torch.log_softmax(z_t, -1), torch.log_softmax(torch.tensor(ref_z), -1)
    scores = {k: _torch_logp(logp, y) for k, y in groups.items()}
    refs = {k: _torch_logp(ref, y) for k, y in groups.items()}
    length = {k: torch.tensor(y.lengths, dtype=torch.float64) for k, y in groups.items()}
    torch_value = evaluate_loss("dpo", scores, length, refs, beta=0.1, neg_weight=neg_weight)
    torch_value.loss.backward()
    assert float(torch_value.loss.detach()) == pytest.approx(value.loss, rel=1e-10)  # float64
    np.testing.assert_allclose(z_t.grad.numpy(), g, rtol=1e-9, atol=1e-12)
    h = (scores["chosen"] - refs["chosen"]) - neg_weight * (scores["rejected"] - refs["rejected"])
    coef = 0.1 * torch.sigmoid(-0.1 * h)  # β(1 − a)
    torch.testing.assert_close(torch_value.dlogp["rejected"].detach(), neg_weight * coef.detach())


def test_zero_negative_weight_leaves_the_rejected_response_without_gradient():
    """w = 0: no negative gradient, ∂L/∂ log π(y⁻) = 0 (autograd)."""
    logp_l = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    logp = {"chosen": torch.tensor([-3.0, -1.0], dtype=torch.float64), "rejected": logp_l}
    ref = {
        "chosen": torch.full((2,), -2.0, dtype=torch.float64),
        "rejected": torch.full((2,), -1.0, dtype=torch.float64),
    }
    length = {k: torch.ones(2, dtype=torch.float64) for k in logp}
    evaluate_loss("dpo", logp, length, ref, neg_weight=0.0).loss.backward()
    assert torch.all(logp_l.grad == 0)


def test_save_model_writes_a_folder_that_model_path_loads_back(tmp_path):
    """`run --save-model`: the reloaded policy reproduces the run's last evaluation (mean
    log π(y⁺|x) of the probes at the final step), and differs from the initial model."""
    from common.runs import read_metrics
    from llm_validation.core.logprobs import collate, sequence_logps, tokenize_example
    from llm_validation.sources.data import load_examples
    from llm_validation.sources.models import load_model
    from llm_validation.training.train import main

    cfg = RunConfig(
        method="sft",
        model="tiny-neox",
        limit=8,
        probe_limit=2,
        steps=2,
        eval_every=2,
        lr=1e-3,
        optimizer="adamw",
        checkpoint=False,
        save_model=True,
        device="cpu",
        out=str(tmp_path / "run"),
    )
    main(cfg)
    final = [
        float(r["value"])
        for r in read_metrics(tmp_path / "run" / "metrics.csv")
        if (r["step"], r["probe_type"], r["metric"]) == ("2", "chosen", "logp")
    ]
    saved, tokenizer = load_model(str(tmp_path / "run" / "model"))
    initial, _ = load_model("tiny-neox")
    examples, _ = load_examples("synthetic", limit=8, seed=0)
    items = [tokenize_example(tokenizer, ex.prompt, {"y": ex.chosen})["y"] for ex in examples[:2]]
    with torch.no_grad():
        logp = [
            float(sequence_logps(m, *collate(items, tokenizer.eos_token_id)).mean())
            for m in (saved, initial)
        ]
    assert logp[0] == pytest.approx(final[0], rel=1e-5)  # fp32 forwards, other batch padding
    assert logp[1] != pytest.approx(final[0], rel=1e-3)  # two AdamW steps at 1e-3 moved it
