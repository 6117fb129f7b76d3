"""The factor report of `predict` (factors.json): ‖A‖, ‖G‖ = |c_r| ‖e_y − π‖ and one real step
measured from θ₀ and back."""

import numpy as np
import torch

from llm_validation.core import entk
from llm_validation.core.first_order import (
    actual_step,
    logps,
    predict_step,
    probe_factors,
    sequence_view,
)


def _chi(model, item):
    return entk.Chi.from_ids(item.ids, item.prompt_len, model.device)


def _naive_residual_norm(model, chi) -> np.ndarray:
    """‖e_{y_l} − π_l‖₂ at each response position, from a plain forward. Shape: (L,)."""
    with torch.no_grad():
        pi = torch.softmax(model(chi.input_ids[None]).logits[0, chi.positions], -1)
    onehot = torch.nn.functional.one_hot(chi.targets, pi.shape[-1]).to(pi.dtype)
    return (onehot - pi).norm(dim=-1).numpy()


def test_the_factor_reports_norm_G_is_abs_c_times_the_residual_norm(tiny_neox64, synthetic_items):
    """G_l = c_r (e_{y_l} − π_l), so ‖G_l‖ = |c_r| ‖e_{y_l} − π_l‖: DPO's c_± = ∓β/2 scale
    it by 0.05 at β = 0.1 (a report without |c_r| would show ‖e_y − π‖ itself)."""
    model, _ = tiny_neox64
    views = {
        r: sequence_view(model, _chi(model, synthetic_items[r])) for r in ("chosen", "rejected")
    }
    terms = {"chosen": (views["chosen"], -0.05), "rejected": (views["rejected"], 0.3)}
    f = probe_factors(model, views["chosen"], terms)
    for r, (view, c_r) in terms.items():
        # Tolerance: float64 model; the norms come from one shifted exponential vs softmax.
        expected = abs(c_r) * _naive_residual_norm(model, view.chi)
        assert np.allclose(f["terms"][r]["norm_G"], expected, rtol=1e-9)
        assert f["terms"][r]["coef"] == c_r


def test_actual_step_measures_from_theta0_and_restores_it(tiny_neox64, synthetic_items):
    """actual_step takes one real step, measures Δ log π and puts θ₀ back bit for bit, so the
    next η of a sweep (or the next update) starts where the prediction was made."""
    model, tokenizer = tiny_neox64
    pad = tokenizer.eos_token_id
    items = list(synthetic_items.values())
    theta0 = [p.detach().clone() for p in model.parameters()]
    grad = predict_step(model, synthetic_items, pad, "sft", "sgd").grad
    before = logps(model, items, pad)
    first = actual_step(model, items, pad, grad, "sgd", 1e-2, before)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), theta0))
    assert all(p.grad is None for p in model.parameters())
    assert np.array_equal(logps(model, items, pad), before)
    again = actual_step(model, items, pad, grad, "sgd", 1e-2, before)
    assert np.array_equal(first, again)
    assert first[list(synthetic_items).index("chosen")] > 0  # an SFT step on y⁺ raises it
