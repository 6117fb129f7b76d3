"""The torch losses: DPO at π_ref = π, and agreement with the simulator's residual G on logits."""

import math

import numpy as np
import pytest
import torch

from llm_validation.logprobs import collate, sequence_logps, tokenize_example
from llm_validation.losses import LOSSES, PairScores

simulator = pytest.importorskip("simulator")


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
    loss = LOSSES["dpo"].fn(PairScores(logp[:1], logp[1:], ref[:1], ref[1:]), beta=beta).sum()
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


SHARED = sorted(set(LOSSES) & set(simulator.LOSSES))


@pytest.mark.parametrize("name", SHARED)
def test_torch_loss_gradient_on_logits_equals_simulator_residual(name):
    """autograd ∂L/∂z of the torch loss equals the simulator's G = Σ_r c_r (e_{y_r} − π)
    (Sec. 3, Eq. 5 chain rule) for random logits and responses of mixed lengths, per loss."""
    rng = np.random.default_rng(7)
    n_rows, vocab, pairs = 40, 11, 3
    z = rng.normal(size=(n_rows, vocab)) * 2
    ref_z = z + rng.normal(size=z.shape) * 0.5
    chosen = _responses(rng, n_rows, vocab, [3, 1, 4])
    rejected = _responses(rng, n_rows, vocab, [2, 5, 1])
    pairwise = LOSSES[name].pairwise
    groups = {"chosen": chosen, "rejected": rejected} if pairwise else {"y": chosen}
    value, g = simulator.loss_and_residual(name, z, simulator.UpdateBatch(groups), ref_z)

    z_t = torch.tensor(z, requires_grad=True)
    logp = torch.log_softmax(z_t, -1)
    ref = torch.log_softmax(torch.tensor(ref_z), -1)
    scores = PairScores(
        _torch_logp(logp, chosen), _torch_logp(logp, rejected),
        _torch_logp(ref, chosen), _torch_logp(ref, rejected),
        torch.tensor(chosen.lengths, dtype=torch.float64),
        torch.tensor(rejected.lengths, dtype=torch.float64))
    loss = LOSSES[name].fn(scores, **simulator.LOSSES[name].defaults).sum()
    loss.backward()
    assert len(chosen.lengths) == pairs
    assert float(loss.detach()) == pytest.approx(value.loss, rel=1e-10)
    np.testing.assert_allclose(z_t.grad.numpy(), g, rtol=1e-9, atol=1e-12)  # float64 both sides


def test_every_trainable_loss_has_a_simulator_twin():
    """The agreement test above covers every torch loss (no loss escapes the oracle)."""
    assert SHARED == sorted(LOSSES)


def test_loss_defaults_match_the_simulator():
    """Same hyper-parameter names and default values as simulator.LOSSES."""
    for name in SHARED:
        assert LOSSES[name].defaults == simulator.LOSSES[name].defaults, name
