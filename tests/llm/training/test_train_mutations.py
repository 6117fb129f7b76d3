"""The training step's arithmetic, each test named after the bug it pins.

Plain SGD throughout: its step Δθ = −η ∇L is linear in the loss, so a loss scaled wrongly (summed
instead of averaged, divided by the micro-batch) shows in Δθ, where AdamW's normalised step
−η m/√v would hide it. Clipping is off (max_grad_norm = 0) unless it is the subject.
"""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from common.runs import read_metrics
from llm_validation.config import RunConfig
from llm_validation.core.logprobs import collate, sequence_logps
from llm_validation.core.losses import PAIR
from llm_validation.training import train
from llm_validation.training.methods import plan_of

BASE = dict(
    model="tiny-neox",
    data="synthetic",
    limit=4,
    probe_limit=1,
    batch_size=4,
    optimizer="sgd",
    lr=0.05,
    max_grad_norm=0.0,
)


@pytest.fixture
def session(tmp_path):
    """An SFT session on four synthetic pairs; its model is θ₀ again after every test step."""
    return train.open_session(RunConfig(method="sft", out=str(tmp_path), **BASE))


def _params(session) -> list[torch.Tensor]:
    return list(session.model.parameters())


def _step(session, rows: list[int], **cfg):
    """Δθ (flat) and the returned loss of one SFT train_step on pairs `rows`, then θ ← θ₀."""
    session.cfg = replace(session.cfg, **cfg)
    (phase,) = plan_of(session.cfg)
    before = [p.detach().clone() for p in _params(session)]
    batch = [session.pairs[i] for i in rows]
    loss = train.train_step(session, phase, batch, rows, None)
    delta = torch.cat([(p.detach() - b).flatten() for p, b in zip(_params(session), before)])
    with torch.no_grad():
        for p, b in zip(_params(session), before):
            p.copy_(b)
    return delta, loss


# Tolerance: the batched and the single-example forwards pad differently, so their fp32 logits
# differ by matmul blocking round-off (~1e-6 relative); 1e-4 of ‖Δθ‖ leaves a wide margin, while
# every bug below is off by a factor of 2 to 4.
def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return float((a - b).norm()) <= 1e-4 * float(b.norm())


def test_the_batch_loss_is_the_mean_over_pairs_not_the_sum(session):
    """L_B = (1/|B|) Σ_i L_i, so one SGD step on the batch moves θ by the mean of the four
    single-pair steps (Δθ is linear in ∇L), and the reported loss is their mean."""
    whole, loss = _step(session, [0, 1, 2, 3])
    singles = [_step(session, [i]) for i in range(4)]
    assert _close(whole, torch.stack([d for d, _ in singles]).mean(0))
    assert loss == pytest.approx(sum(v for _, v in singles) / 4, rel=1e-5)


@pytest.mark.parametrize("micro", [1, 2])
def test_gradient_accumulation_divides_by_the_batch_not_the_micro_batch(session, micro):
    """Accumulating 4/micro micro-batches gives the step of one full-batch pass."""
    whole, loss = _step(session, [0, 1, 2, 3], micro_batch_size=None)
    accumulated, accumulated_loss = _step(session, [0, 1, 2, 3], micro_batch_size=micro)
    assert _close(accumulated, whole)
    assert accumulated_loss == pytest.approx(loss, rel=1e-5)


def test_gradient_clipping_caps_the_step_at_max_grad_norm(session):
    """With ‖∇L‖ > c, the SGD step is −η c ∇L/‖∇L‖: ‖Δθ‖ = η c exactly (clip_grad_norm_'s
    1e-6 in the denominator moves it by < 1e-6 relative for ‖∇L‖ ≫ 1e-6)."""
    free, _ = _step(session, [0, 1, 2, 3], max_grad_norm=0.0)
    clipped, _ = _step(session, [0, 1, 2, 3], max_grad_norm=1e-3)
    lr = session.cfg.lr
    assert float(free.norm()) > 10 * lr * 1e-3  # the cap binds
    assert float(clipped.norm()) == pytest.approx(lr * 1e-3, rel=1e-4)
    assert float(torch.nn.functional.cosine_similarity(clipped, free, dim=0)) > 0.9999


def test_examples_seen_counts_pairs_not_micro_batches(tmp_path):
    """examples_seen = step × batch_size however the batch is split into forward passes."""
    cfg = RunConfig(
        method="sft", steps=2, eval_every=1, micro_batch_size=1, out=str(tmp_path), **BASE
    )
    rows = read_metrics(train.main(cfg) / "metrics.csv")
    assert {(int(r["step"]), int(r["examples_seen"])) for r in rows} == {(0, 0), (1, 4), (2, 8)}


def _logp(model, item, pad_id) -> float:
    with torch.no_grad():
        return float(sequence_logps(model, *collate([item], pad_id))[0])


def test_the_precomputed_reference_table_is_one_row_per_pair_chosen_then_rejected(session):
    """precompute_reference → (N, 2) with row i = (log π(y⁺_i), log π(y⁻_i)) in data order, and
    reference_scores reads the rows of the micro-batch's own pairs."""
    table = train.precompute_reference(session, session.pairs)
    naive = torch.tensor(
        [
            [_logp(session.model, w, session.pad_id), _logp(session.model, r, session.pad_id)]
            for w, r in session.pairs
        ],
        dtype=torch.float64,
    )
    assert table.shape == (4, 2)
    # Tolerance: length-bucketed batches against single sequences, fp32 round-off (~1e-6 × |log π|)
    assert torch.allclose(table, naive, rtol=1e-5, atol=1e-4)
    assert table[:, 0].tolist() != table[:, 1].tolist()
    ref = train.reference_scores(session, table, [session.pairs[i] for i in (2, 0)], [2, 0])
    assert ref["chosen"].tolist() == table[[2, 0], 0].tolist()
    assert ref["rejected"].tolist() == table[[2, 0], 1].tolist()


def test_a_frozen_reference_is_a_copy_that_training_does_not_move(session):
    """reference=copy: π_ref is a separate model at θ₀; a DPO step moves the policy, not π_ref."""
    session.cfg = replace(session.cfg, method="dpo", reference="copy")
    session.out.mkdir(parents=True, exist_ok=True)
    (phase,) = plan_of(session.cfg)
    reference = train.phase_reference(session, 0, phase, session.pairs)
    assert reference is not session.model
    theta0 = [p.detach().clone() for p in reference.parameters()]
    before = train.reference_scores(session, reference, session.pairs[:2], [0, 1])
    train.train_step(session, phase, session.pairs, [0, 1, 2, 3], reference)
    after = train.reference_scores(session, reference, session.pairs[:2], [0, 1])
    assert all(torch.equal(p, q) for p, q in zip(reference.parameters(), theta0))
    assert not all(torch.equal(p, q) for p, q in zip(session.model.parameters(), theta0))
    assert torch.equal(before["chosen"], after["chosen"])


def test_a_batch_that_straddles_an_epoch_takes_the_end_of_one_permutation_then_the_next():
    """The stream of examples is perm₀ ‖ perm₁ ‖ …: with N = 10 and B = 4, step 2 reads
    positions 8..11, the last two of epoch 0 and the first two of epoch 1."""
    stream = [i for s in range(5) for i in train.batch_indices(10, 4, s, seed=3)]
    assert sorted(stream[:10]) == list(range(10)) and sorted(stream[10:]) == list(range(10))
    assert stream[:10] != stream[10:]  # each epoch draws its own permutation


def test_the_extension_phase_trains_each_response_once_as_sft(session):
    """extend-dpo's first phase (Sec. 4.3) is SFT on y⁺ and on y⁻ of every pair: 2N examples."""
    (sft, _) = plan_of(replace(session.cfg, method="extend-dpo"))
    data = train.phase_data(session, sft)
    assert [w for w, _ in data] == [w for w, _ in session.pairs] + [r for _, r in session.pairs]
    assert all(r is None for _, r in data)


def test_mean_reduction_reports_unit_lengths_so_no_loss_divides_by_y_twice(session):
    """Under --reduction mean the score is already (1/|y|) Σ log π, so |y| = 1 goes to the loss
    (SimPO and RPO divide by |y| themselves); under sum the score is Σ log π with the real |y|."""
    pairs = session.pairs[:2]
    sums, lengths = train.group_logps(session.model, pairs, session.pad_id, "sum", PAIR)
    means, ones = train.group_logps(session.model, pairs, session.pad_id, "mean", PAIR)
    for g in PAIR:
        # Tolerance: one padded fp32 forward each; the two reductions of it agree to round-off.
        assert torch.allclose(means[g], sums[g] / lengths[g], rtol=1e-5)
        assert ones[g].tolist() == [1.0, 1.0]
    assert lengths["chosen"].tolist() == [float(w.response_len) for w, _ in pairs]


@pytest.mark.parametrize("method, expected", [("dpo", math.log(2)), ("ipo", 1 / (4 * 0.1**2))])
def test_each_method_trains_its_own_loss_from_pi_ref(session, method, expected):
    """At θ₀ = π_ref the margin h = 0, so the first step's loss is −log σ(0) = log 2 for DPO and
    (0 − 1/(2β))² = 25 for IPO at β = 0.1: the method table names the right loss."""
    session.cfg = replace(session.cfg, method=method)
    session.out.mkdir(parents=True, exist_ok=True)
    (phase,) = plan_of(session.cfg)
    reference = train.phase_reference(session, 0, phase, session.pairs)
    loss = train.train_step(session, phase, session.pairs, [0, 1, 2, 3], reference)
    # Tolerance: the table and the live pass are different fp32 forwards (h ≈ 1e-6, not 0).
    assert loss == pytest.approx(expected, rel=1e-4)


def test_on_policy_dpo_takes_its_reference_from_a_model_copy(session):
    """Sampled pairs change every step, so no table of the dataset's pairs can serve as π_ref:
    onpolicy-dpo uses a frozen copy even under --reference precomputed."""
    session.cfg = replace(session.cfg, method="onpolicy-dpo", reference="precomputed")
    session.out.mkdir(parents=True, exist_ok=True)
    (phase,) = plan_of(session.cfg)
    assert phase.data == "onpolicy"
    reference = train.phase_reference(session, 0, phase, session.pairs)
    assert isinstance(reference, torch.nn.Module) and reference is not session.model


def test_the_logged_training_loss_is_the_mean_since_the_previous_evaluation(tmp_path, monkeypatch):
    """Steps return losses 1, 2, 3; with eval_every = 2 the rows read 1.5 at step 2 and 3.0 at
    step 3 (the last step is evaluated although it is off the grid)."""
    losses = iter([1.0, 2.0, 3.0])
    monkeypatch.setattr(train, "train_step", lambda *args: next(losses))
    cfg = RunConfig(method="sft", steps=3, eval_every=2, out=str(tmp_path), **BASE)
    rows = read_metrics(train.main(cfg) / "metrics.csv")
    logged = {int(r["step"]): float(r["value"]) for r in rows if r["probe_type"] == "train"}
    assert logged == {2: 1.5, 3: 3.0}
    assert {int(r["step"]) for r in rows} == {0, 2, 3}


def test_probe_limit_and_probe_types_choose_what_is_tracked(tmp_path):
    """--probe-limit 2 scores two probe examples; --probe-types y_star tracks y* alone (its chosen
    pass is scored for it but not logged)."""
    cfg = RunConfig(
        method="sft",
        steps=0,
        eval_every=1,
        probe_types="y_star",
        save_arrays=True,
        out=str(tmp_path),
        **{**BASE, "probe_limit": 2},
    )
    out = train.main(cfg)
    assert {r["probe_type"] for r in read_metrics(out / "metrics.csv")} == {"y_star"}
    arrays = np.load(out / "arrays" / "step_000000.npz")
    assert arrays["y_star/logp"].shape == (2,)
