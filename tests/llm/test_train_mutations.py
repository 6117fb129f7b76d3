"""The training step's arithmetic, each test named after the bug it pins.

Plain SGD throughout: its step Δθ = −η ∇L is linear in the loss, so a loss scaled wrongly (summed
instead of averaged, divided by the micro-batch) shows in Δθ, where AdamW's normalised step
−η m/√v would hide it. Clipping is off (max_grad_norm = 0) unless it is the subject.
"""

from dataclasses import replace

import pytest
import torch

from common.runs import read_metrics
from llm_validation.core.logprobs import collate, sequence_logps
from llm_validation.runs import train
from llm_validation.runs.config import RunConfig
from llm_validation.runs.methods import plan

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
    ((_, phase),) = plan(session.cfg)
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
    ((_, phase),) = plan(session.cfg)
    reference = train.phase_reference(session, 0, phase, session.pairs)
    assert reference is not session.model
    theta0 = [p.detach().clone() for p in reference.parameters()]
    before = train.reference_scores(session, reference, session.pairs[:2], [0, 1])
    train.train_step(session, phase, session.pairs, [0, 1, 2, 3], reference)
    after = train.reference_scores(session, reference, session.pairs[:2], [0, 1])
    assert all(torch.equal(p, q) for p, q in zip(reference.parameters(), theta0))
    assert not all(torch.equal(p, q) for p, q in zip(session.model.parameters(), theta0))
    assert torch.equal(before["chosen"], after["chosen"])
