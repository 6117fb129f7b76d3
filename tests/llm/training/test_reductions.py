"""Every trainable loss under both `--reduction`s, through the trainer's own scoring, against the
loss written out by hand from naive per-example log-probs.

`sum` feeds log π(y|x) = Σ_l log π(y_l|…) to the losses, `mean` feeds (1/|y|) Σ_l log π(y_l|…).
A length-normalised loss (SimPO, RPO's NLL) therefore reads the token mean in both cases: under
`mean` it must not divide by |y| again (the bug this file pins: it once did).
"""

import math

import pytest
import torch

from llm_validation.core.logprobs import naive_sequence_logp, tokenize_example
from llm_validation.core.losses import LOSSES, PAIR, evaluate_loss
from llm_validation.sources.models import load_model
from llm_validation.sources.synthetic import generate
from llm_validation.training.train import group_logps

HP = {"beta": 0.2, "gamma": 0.3, "delta": 1.5, "lam": 0.4, "alpha": 0.7}
log_sigmoid = lambda x: -math.log1p(math.exp(-x))


def by_hand(name, w, l, rw, rl, mw, ml):
    """The loss of one batch from per-pair scores w, l (as the reduction gives them), references
    rw, rl, and token means mw, ml (what length-normalised losses read)."""
    b, g, d, lam, a = (HP[k] for k in ("beta", "gamma", "delta", "lam", "alpha"))
    pairs = range(len(w))
    h = [(w[i] - rw[i]) - (l[i] - rl[i]) for i in pairs]
    return {
        "sft": -sum(w),
        "dpo": -sum(log_sigmoid(b * h[i]) for i in pairs),
        "ipo": sum((h[i] - 1 / (2 * b)) ** 2 for i in pairs),
        "slic": sum(max(0.0, d - w[i] + l[i]) for i in pairs) - lam * sum(w),
        "simpo": -sum(log_sigmoid(b * mw[i] - b * ml[i] - g) for i in pairs),
        "rpo": -sum(log_sigmoid(b * h[i]) for i in pairs) - a * sum(mw),
    }[name]


@pytest.fixture(scope="module")
def batch():
    model, tok = load_model("tiny-neox", seed=0)
    model = model.double()
    pairs = []
    for ex in generate(3, seed=1):
        t = tokenize_example(tok, ex.prompt, {"chosen": ex.chosen, "rejected": ex.rejected})
        pairs.append((t["chosen"], t["rejected"]))
    assert len({p[0].response_len for p in pairs}) > 1  # mixed lengths, or the bug hides
    return model, tok, pairs


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("name", ["sft", "dpo", "ipo", "slic", "simpo", "rpo"])
def test_loss_under_each_reduction_equals_the_hand_written_formula(batch, name, reduction):
    model, tok, pairs = batch
    spec = LOSSES[name]
    with torch.no_grad():
        logp, length = group_logps(model, pairs, tok.eos_token_id, reduction, spec.groups)
        value = evaluate_loss(
            name,
            logp,
            length,
            None
            if not spec.reference
            else {"chosen": logp["chosen"] - 0.25, "rejected": logp["rejected"] + 0.5},
            **{k: v for k, v in HP.items() if k in spec.defaults},
        )
    sums = [[naive_sequence_logp(model, p[i]) for p in pairs] for i in (0, 1)]
    lens = [[p[i].response_len for p in pairs] for i in (0, 1)]
    means = [[s / n for s, n in zip(sums[i], lens[i])] for i in (0, 1)]
    w, l = sums if reduction == "sum" else means
    if spec.groups != PAIR:
        l = [0.0] * len(w)
    expected = by_hand(name, w, l, [x - 0.25 for x in w], [x + 0.5 for x in l], *means)
    assert float(value.loss) == pytest.approx(expected, rel=1e-9)  # float64 model: round-off
