"""The bridge between the two halves of the project: a real LM trained on its output head alone
IS the simulator's fixed-kernel dynamics.

With every parameter frozen except the unembedding W_U (tiny-neox has no output bias, 1_b = 0),
the hidden states h(χ) of every context χ = (x, y_<l) never move, z(χ) = W_U h(χ), and one SGD step
W_U ← W_U − η Σ_χ G(χ) h(χ)ᵀ moves every logit by

    Δz(χ_o) = −η Σ_χ (h(χ_o)ᵀ h(χ)) G(χ),   i.e.   z ← z − η K G,  K = H Hᵀ ⊗ I_V,

the eNTK's unembedding closed form, fixed for the whole run. So tens of real torch SGD steps must
give every probe the trajectory that `simulator.take_step`, iterated from the LM's own hidden
states, gives it — to float64 round-off.
"""

import numpy as np
import pytest
import torch

import simulator
from llm_validation.core.logprobs import collate, sequence_logps, tokenize_example
from llm_validation.core.losses import evaluate_loss
from llm_validation.sources.models import load_model
from llm_validation.sources.synthetic import generate

STEPS, LR = 30, 0.05
PROBE_TYPES = ("chosen", "rejected", "chosen_gptsemantic", "irr_train", "random_permute")


def contexts(model, item):
    """Hidden states entering the head at the response's contexts, Shape (L, d), and the
    targets (L,): position t predicts token t + 1."""
    captured = {}
    hook = model.get_output_embeddings().register_forward_hook(
        lambda module, args, out: captured.update(h=args[0])  # returns None: output unchanged
    )
    with torch.no_grad():
        model(input_ids=torch.tensor([item.ids]))
    hook.remove()
    positions = range(item.prompt_len - 1, len(item.ids) - 1)
    return captured["h"][0, list(positions)].numpy(), np.array(item.ids[item.prompt_len :])


def logps(model, items, pad):
    with torch.no_grad():
        return sequence_logps(model, *collate(items, pad)).numpy()


@pytest.mark.parametrize("loss", ["sft", "dpo"])
def test_head_only_sgd_on_a_real_lm_is_the_simulators_fixed_kernel_run(loss):
    model, tok = load_model("tiny-neox", seed=0)
    model = model.double().eval()  # eval: no dropout; float64: round-off far below the bar
    head = model.get_output_embeddings()
    assert head.bias is None
    for p in model.parameters():
        p.requires_grad_(False)
    head.weight.requires_grad_(True)
    pad = tok.eos_token_id

    examples = generate(3, seed=2)
    train = [
        tokenize_example(tok, ex.prompt, {"chosen": ex.chosen, "rejected": ex.rejected})
        for ex in examples
    ]
    probes = [
        t
        for ex in examples
        for t in tokenize_example(
            tok, ex.prompt, {k: ex.responses[k] for k in PROBE_TYPES}
        ).values()
    ]

    # The simulator's view: one row of Z per context, training contexts first, then the probes'.
    sequences = [t["chosen"] for t in train] + [t["rejected"] for t in train] + probes
    hs, targets, rows, start = [], [], [], 0
    for item in sequences:
        h, y = contexts(model, item)
        hs.append(h)
        targets.append(y)
        rows.append(np.arange(start, start + len(y)))
        start += len(y)
    H = np.concatenate(hs)  # (N, d)
    z = H @ head.weight.detach().numpy().T  # (N, V)
    k = H @ H.T  # (N, N): the unembedding eNTK, fixed
    n = len(train)
    response = lambda i: simulator.Responses.from_sequences(
        [rows[j] for j in i], [targets[j] for j in i]
    )
    chosen, rejected = response(range(n)), response(range(n, 2 * n))
    groups = {"y": chosen} if loss == "sft" else {"chosen": chosen, "rejected": rejected}
    batch, probe_responses = simulator.UpdateBatch(groups), response(range(2 * n, len(sequences)))
    ref_z = z.copy()

    # The real model: full-batch SGD on W_U with the same loss (summed over pairs, as the simulator).
    optimizer = torch.optim.SGD([head.weight], lr=LR)
    pairs = [t["chosen"] for t in train] + ([t["rejected"] for t in train] if loss == "dpo" else [])
    with torch.no_grad():
        ref = sequence_logps(model, *collate(pairs, pad))
    torch_curve, sim_curve = [logps(model, probes, pad)], []
    sim_curve.append(simulator.sequence_logp(simulator.log_softmax(z), probe_responses))
    for _ in range(STEPS):
        optimizer.zero_grad()
        logp = sequence_logps(model, *collate(pairs, pad))
        if loss == "sft":
            value = evaluate_loss("sft", {"y": logp}, {"y": torch.ones(n)})
        else:
            pair = lambda t: {"chosen": t[:n], "rejected": t[n:]}
            value = evaluate_loss("dpo", pair(logp), pair(torch.ones(2 * n)), pair(ref))
        value.loss.backward()
        optimizer.step()
        torch_curve.append(logps(model, probes, pad))
        z = simulator.take_step(z, k, loss, batch, LR, ref_z=ref_z).z_after
        sim_curve.append(simulator.sequence_logp(simulator.log_softmax(z), probe_responses))

    torch_curve, sim_curve = np.array(torch_curve), np.array(sim_curve)  # (STEPS + 1, probes)
    moved = np.abs(torch_curve[-1] - torch_curve[0])
    assert moved.max() > 1.0  # the run really trains: probes move by more than a nat
    # float64 on both sides; 30 steps of O(N V d) sums (measured: max gap 2e-14 nats)
    np.testing.assert_allclose(torch_curve, sim_curve, rtol=1e-9, atol=1e-9)
