"""The losses on torch tensors: DPO at π_ref = π, the simulator's residual G on logits, and the
closed-form c_r against autograd — for every loss of the one registry."""

import math

import numpy as np
import pytest
import torch

import simulator
from llm_validation.core.logprobs import collate, sequence_logps, tokenize_example
from llm_validation.core.losses import LOSSES, evaluate_loss


def _pair_grads(model, batch):
    """∇_θ log π(y⁺|x) and ∇_θ log π(y⁻|x) for one pair, as flat vectors."""
    grads = []
    for item in batch:
        model.zero_grad()
        sequence_logps(model, *collate([item], 0)).sum().backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    return grads


def test_dpo_at_reference_is_log2_with_gradient_half_beta(tiny, synthetic_examples):
    """With π_ref = π, h = 0, so L_DPO = −log σ(0) = log 2 and
    ∇_θ L = −β σ(−βh) [∇ log π(y⁺) − ∇ log π(y⁻)] = −(β/2)[∇ log π(y⁺) − ∇ log π(y⁻)]
    (Rafailov et al. 2023, the DPO gradient; Ren & Sutherland Sec. 3.3)."""
    model, tokenizer = tiny
    beta = 0.1
    ex = synthetic_examples[0]
    tokens = tokenize_example(tokenizer, ex.prompt, {"w": ex.chosen, "l": ex.rejected})
    w_grad, l_grad = _pair_grads(model, [tokens["w"], tokens["l"]])
    model.zero_grad()
    logp = sequence_logps(model, *collate([tokens["w"], tokens["l"]], tokenizer.eos_token_id))
    ref = logp.detach()
    length = {"chosen": torch.ones(1), "rejected": torch.ones(1)}
    loss = evaluate_loss(
        "dpo",
        {"chosen": logp[:1], "rejected": logp[1:]},
        length,
        {"chosen": ref[:1], "rejected": ref[1:]},
        beta=beta,
    ).loss
    loss.backward()
    grad = torch.cat([p.grad.flatten() for p in model.parameters()])
    assert float(loss.detach()) == pytest.approx(math.log(2), abs=1e-12)
    # fp32 gradients of a fp32 model: agreement to float32 round-off of the summed terms
    torch.testing.assert_close(grad, -beta / 2 * (w_grad - l_grad), rtol=1e-4, atol=1e-6)


def _responses(rng, n_rows, vocab, lengths):
    """Responses over distinct rows of a (N, V) logit matrix (one context per token)."""
    rows = rng.permutation(n_rows)[: sum(lengths)]
    splits = np.split(rows, np.cumsum(lengths)[:-1])
    tokens = [rng.integers(vocab, size=len(r)) for r in splits]
    return simulator.Responses.from_sequences(list(splits), tokens)


def _torch_logp(logp_rows, y):
    """log π(y|x) per response from (N, V) log-probs: the teacher-forced sum over its tokens."""
    token = logp_rows[torch.as_tensor(y.rows), torch.as_tensor(y.tokens)]
    return torch.zeros(y.n, dtype=token.dtype).index_add(0, torch.as_tensor(y.owner), token)


def _problem(name, rng):
    """Random logits (and reference logits) with responses of mixed lengths for loss `name`."""
    n_rows, vocab = 40, 11
    z = rng.normal(size=(n_rows, vocab)) * 2
    ref_z = z + rng.normal(size=z.shape) * 0.5
    chosen = _responses(rng, n_rows, vocab, [3, 1, 4])
    rejected = _responses(rng, n_rows, vocab, [2, 5, 1])
    groups = {"chosen": chosen, "rejected": rejected} if LOSSES[name].pairwise else {"y": chosen}
    advantage = rng.normal(size=3) if name == "pg" else None
    return z, ref_z, groups, advantage


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_torch_loss_gradient_on_logits_equals_simulator_residual(name):
    """autograd ∂L/∂z of the loss on torch tensors equals the simulator's numpy
    G = Σ_r c_r (e_{y_r} − π) (Sec. 3, Eq. 5 chain rule), random logits, mixed lengths."""
    z, ref_z, groups, advantage = _problem(name, np.random.default_rng(7))
    batch = simulator.UpdateBatch(groups, advantage)
    value, g = simulator.loss_and_residual(name, z, batch, ref_z)

    z_t = torch.tensor(z, requires_grad=True)
    logp = torch.log_softmax(z_t, -1)
    ref = torch.log_softmax(torch.tensor(ref_z), -1)
    loss = evaluate_loss(
        name,
        {k: _torch_logp(logp, y) for k, y in groups.items()},
        {k: torch.tensor(y.lengths, dtype=torch.float64) for k, y in groups.items()},
        {k: _torch_logp(ref, y) for k, y in groups.items()},
        None if advantage is None else torch.tensor(advantage),
    ).loss
    loss.backward()
    assert float(loss.detach()) == pytest.approx(value.loss, rel=1e-10)
    np.testing.assert_allclose(z_t.grad.numpy(), g, rtol=1e-9, atol=1e-12)  # float64 both sides


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_closed_form_coefficients_equal_autograd(name):
    """Each loss's closed-form c_r = ∂L/∂ log π(y_r) (what the first-order prediction uses)
    equals autograd through the same definition, in float64 (round-off only: rtol 1e-10)."""
    rng = np.random.default_rng(3)
    _, _, groups, advantage = _problem(name, rng)
    logp = {k: torch.tensor(rng.normal(-8, 3, size=3), requires_grad=True) for k in groups}
    ref = {k: torch.tensor(rng.normal(-8, 3, size=3)) for k in groups}
    length = {k: torch.tensor(y.lengths, dtype=torch.float64) for k, y in groups.items()}
    adv = None if advantage is None else torch.tensor(advantage)
    value = evaluate_loss(name, logp, length, ref, adv)
    grads = torch.autograd.grad(value.loss, [logp[k] for k in groups])
    for k, grad in zip(groups, grads):
        torch.testing.assert_close(value.dlogp[k].detach(), grad, rtol=1e-10, atol=1e-12)
