"""trl as a test oracle: the losses both projects share, computed through trl 1.16's own code on
random per-token log-probs with mixed lengths (float64), against `simulator.LOSSES` on torch.

Where the conventions agree the two are equal to round-off (1e-12 relative, float64):
DPO = trl `sigmoid`; IPO under `--reduction mean` = trl `ipo` (which averages over tokens);
SimPO = CPO `simpo` without its NLL term (`cpo_alpha=0`). Where they differ (IPO under `sum`,
SLiC, RPO) the tests pin the exact mapping that the losses' docstrings state. trl averages over
the batch where the registry sums, so trl = ours / B throughout.
"""

from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch

from llm_validation.core.losses import LOSSES, evaluate_loss

trl_dpo = pytest.importorskip("trl.trainer.dpo_trainer")
trl_cpo = pytest.importorskip("trl.experimental.cpo.cpo_trainer")

B = 4
LENGTHS = {"chosen": [3, 7, 1, 12], "rejected": [5, 2, 9, 4]}  # mixed on purpose
PROMPT = [2, 5, 1, 3]  # prompt tokens per pair, also mixed
BETA = 0.3


def grid(seed: int):
    """Per-token log-probs on trl's shifted grid, Shape (2B, T−1), zero outside completions;
    the completion mask (2B, T); and our per-sequence sums and lengths."""
    g = torch.Generator().manual_seed(seed)
    lengths = LENGTHS["chosen"] + LENGTHS["rejected"]
    prompts = PROMPT + PROMPT
    width = max(p + n for p, n in zip(prompts, lengths)) + 1
    mask = torch.zeros(2 * B, width, dtype=torch.long)
    for b, (p, n) in enumerate(zip(prompts, lengths)):
        mask[b, p : p + n] = 1
    shift = mask[:, 1:].bool()
    token = -torch.rand(2 * B, width - 1, generator=g, dtype=torch.float64) * 6
    token = torch.where(shift, token, torch.zeros_like(token))
    sums = token.sum(1)
    n = torch.tensor(lengths, dtype=torch.float64)
    return token, mask, sums, n


def trl_dpo_loss(token, mask, ref_sums, loss_types, loss_weights, beta=BETA) -> float:
    """trl's `DPOTrainer._compute_loss` itself, on a model whose fused head returns `token`."""
    outputs = SimpleNamespace(
        log_probs=token,
        entropy=torch.zeros_like(token),
        mean_logits=torch.zeros_like(token),
        is_top1=torch.zeros_like(token, dtype=torch.bool),
    )
    model = lambda **kwargs: outputs
    model.training = True
    trainer = SimpleNamespace(
        model=model,
        accelerator=SimpleNamespace(
            device="cpu", gather_for_metrics=lambda x: x, gather=lambda x: x
        ),
        aux_loss_enabled=False,
        ld_alpha=None,
        precompute_ref_logps=True,
        f_divergence_type="reverse_kl",
        loss_types=loss_types,
        loss_weights=loss_weights,
        beta=beta,
        use_weighting=False,
        _metrics=defaultdict(lambda: defaultdict(list)),
        _total_train_tokens=0,
        _tp_size=1,
    )
    ref_c, ref_r = ref_sums.chunk(2)
    inputs = {
        "input_ids": torch.zeros_like(mask),
        "attention_mask": torch.ones_like(mask),
        "completion_mask": mask,
        "ref_chosen_logps": ref_c,
        "ref_rejected_logps": ref_r,
    }
    return float(trl_dpo.DPOTrainer._compute_loss(trainer, model, inputs, False))


def ours(name: str, scores, lengths, ref=None, **hp) -> float:
    pair = lambda t: {"chosen": t[:B], "rejected": t[B:]}
    ref = None if ref is None else pair(ref)
    return float(evaluate_loss(name, pair(scores), pair(lengths), ref, **hp).loss)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dpo_equals_trl_sigmoid(seed):
    token, mask, sums, n = grid(seed)
    ref = sums + torch.randn(2 * B, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    expected = trl_dpo_loss(token, mask, ref, ["sigmoid"], [1.0])
    assert ours("dpo", sums, n, ref, beta=BETA) / B == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ipo_under_token_means_equals_trl_ipo_and_differs_under_sums(seed):
    """trl divides each log-ratio by |y| (token mean) before IPO's square: ours under
    `--reduction mean` (scores s/|y|, references likewise). Under `sum` (the paper's) they differ."""
    token, mask, sums, n = grid(seed)
    ref = sums * 0.9
    expected = trl_dpo_loss(token, mask, ref, ["ipo"], [1.0])
    mean_reduction = ours("ipo", sums / n, torch.ones_like(n), ref / n, beta=BETA) / B
    assert mean_reduction == pytest.approx(expected, rel=1e-12)
    assert ours("ipo", sums, n, ref, beta=BETA) / B != pytest.approx(expected, rel=1e-3)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_simpo_equals_cpo_simpo_without_its_nll_term(reduction):
    """CPO's `cpo_loss` with loss_type="simpo" on token-mean log-probs (what its forward feeds
    it) is the loss without the NLL term that `cpo_alpha` (default 1.0) adds. Ours reads
    sequence sums with |y| (sum) or token means with |y| = 1 (mean): the same SimPO either way."""
    token, mask, sums, n = grid(4)
    gamma = 0.7
    trainer = SimpleNamespace(
        alpha=0.0,
        accelerator=SimpleNamespace(device="cpu"),
        loss_type="simpo",
        simpo_gamma=gamma,
        beta=BETA,
        label_smoothing=0.0,
    )
    means = sums / n
    losses, _, _ = trl_cpo.CPOTrainer.cpo_loss(trainer, means[:B], means[B:])
    scores, lengths = (sums, n) if reduction == "sum" else (means, torch.ones_like(n))
    assert ours("simpo", scores, lengths, beta=BETA, gamma=gamma) / B == pytest.approx(
        float(losses.mean()), rel=1e-12
    )


def test_slic_hinge_is_delta_times_trl_hinge_at_beta_one_over_delta_with_a_zero_reference():
    """trl's hinge is relu(1 − β h) on the reference log-ratio margin h; ours is the
    reference-free relu(δ − log π(y⁺) + log π(y⁻)). With π_ref's log-probs at 0 and β = 1/δ:
    ours (λ = 0) = δ · trl-hinge."""
    token, mask, sums, n = grid(5)
    delta = 2.5
    hinge = trl_dpo_loss(token, mask, torch.zeros_like(sums), ["hinge"], [1.0], beta=1 / delta)
    assert ours("slic", sums, n, delta=delta, lam=0.0) / B == pytest.approx(
        delta * hinge, rel=1e-12
    )


def test_slic_and_rpo_nll_terms_are_per_pair_where_trl_pools_tokens():
    """trl's `sft` term (SLiC's λ, RPO's α) is −(Σ over all chosen tokens)/(Σ |y⁺|), pooled over
    the batch; ours is the per-pair −log π(y⁺) (SLiC, sum) or −log π(y⁺)/|y⁺| (RPO). Pinned:
    trl's value by hand, and RPO = trl sigmoid + α·sft exactly when every |y⁺| is equal."""
    token, mask, sums, n = grid(6)
    ref = sums * 1.1
    pooled = -sums[:B].sum() / n[:B].sum()
    assert trl_dpo_loss(token, mask, ref, ["sft"], [1.0]) == pytest.approx(float(pooled), rel=1e-12)
    alpha = 0.5
    rpo_trl = trl_dpo_loss(token, mask, ref, ["sigmoid", "sft"], [1.0, alpha])
    per_pair = -(sums[:B] / n[:B]).mean()
    gap = ours("rpo", sums, n, ref, beta=BETA, alpha=alpha) / B - rpo_trl
    assert gap == pytest.approx(alpha * float(per_pair - pooled), rel=1e-9)
    assert float(per_pair - pooled) != pytest.approx(0.0, abs=1e-3)  # mixed lengths: they differ


def test_every_shared_loss_is_checked():
    assert {"dpo", "ipo", "simpo", "slic", "rpo"} <= set(LOSSES)
