"""First-order Δ log π on a real LM: the prediction is the derivative of log π along the
optimiser's actual step, and it decomposes as Σ_{m,l} e_{y_m}ᵀ A_m K_{m,l} G_l (paper Eq. 5)."""

import numpy as np
import pytest
import torch

import simulator
from llm_validation.core import agreement, directions, entk, first_order
from llm_validation.core.logprobs import collate, naive_sequence_logp, sequence_logps
from llm_validation.core.losses import evaluate_loss


def _shift(model, vector):
    with torch.no_grad():
        for p, v in zip(
            directions.trainable(model), directions.unflatten(vector, directions.trainable(model))
        ):
            p.add_(v.view_as(p))


@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop", "adamw"])
@pytest.mark.parametrize("warm", [0, 2])
def test_step_direction_is_the_torch_optimizers_step_per_unit_lr(optimizer, warm):
    """Δθ = η d(g, θ, state) reproduces torch.optim's step, fresh (first step) or after `warm`
    steps: the direction the prediction uses is the one the optimiser takes."""
    gen = torch.Generator().manual_seed(warm)
    params = [
        torch.randn(4, 3, dtype=torch.float64, generator=gen, requires_grad=True),
        torch.randn(5, dtype=torch.float64, generator=gen, requires_grad=True),
    ]
    lr = 1e-3
    opt = directions.make_optimizer(optimizer, params, lr)
    for _ in range(warm + 1):
        grads = [torch.randn(p.shape, dtype=torch.float64, generator=gen) for p in params]
        theta, state = (
            directions.flatten(params).detach().clone(),
            directions.flat_state(opt, params),
        )
        for p, g in zip(params, grads):
            p.grad = g
        opt.step()
    d = directions.step_direction(optimizer, directions.flatten(grads), theta, state)
    moved = (directions.flatten(params).detach() - theta) / lr
    torch.testing.assert_close(moved, d, rtol=1e-7, atol=1e-9)  # float64, one fused update


def test_adamw_first_step_is_sign_like():
    """Adam's first step is −η(g/(|g| + ε) + λθ) ≈ −η(sign(g) + λθ) whatever the gradient's scale."""
    g = torch.tensor([1e-3, -2.0, 50.0], dtype=torch.float64)
    d = directions.step_direction("adamw", g, torch.zeros(3, dtype=torch.float64))
    torch.testing.assert_close(d, -torch.sign(g), rtol=1e-4, atol=0)


@pytest.mark.parametrize("method,optimizer", [("sft", "sgd"), ("dpo", "rmsprop"), ("dpo", "adamw")])
def test_predicted_change_equals_finite_difference_directional_derivative(
    tiny_neox64, synthetic_items, method, optimizer
):
    """⟨∇θ log π(y|χ_o), d⟩ = d/dε log π(θ + εd) at ε = 0 for every probe."""
    model, tok = tiny_neox64
    probes = {k: synthetic_items[k] for k in ("chosen", "rejected", "irr_hum", "random_permute")}
    pred = first_order.predict_step(model, probes, tok.eos_token_id, method, optimizer)
    theta = directions.flatten(directions.trainable(model)).detach()
    d = directions.step_direction(optimizer, pred.grad, theta)
    # transformers' eager attention takes its softmax in fp32 even in a float64 model, so log π
    # carries ~1e-8 of round-off. A five-point stencil at ‖εd‖ = 1e-2 keeps both its O(ε⁴)
    # truncation and round-off/ε far below the tolerance, which allows that fp32 round-off in
    # each coordinate of the gradient: 1e-5 · Σ_i |∂_i log π| |d_i|.
    eps = 1e-2 / float(d.norm())
    items = list(probes.values())
    at = {}
    for k in (2, 1, -1, -2):
        _shift(model, k * eps * d)
        at[k] = np.array([naive_sequence_logp(model, it) for it in items])
        _shift(model, -k * eps * d)
    fd = (-at[2] + 8 * at[1] - 8 * at[-1] + at[-2]) / (12 * eps)
    grads = [first_order.logp_and_grad(model, it, tok.eos_token_id)[1] for it in items]
    bound = np.array([1e-5 * float((g.abs() * d.abs()).sum()) for g in grads])
    assert np.all(np.abs(pred.per_lr - fd) <= bound)


def test_update_gradient_is_the_loss_gradient(tiny_neox64, synthetic_items):
    """g_u = Σ_r c_r ∇θ log π(y_r) with c_r = ∂L/∂ log π(y_r) equals autograd of the DPO loss."""
    model, tok = tiny_neox64
    pred = first_order.predict_step(model, synthetic_items, tok.eos_token_id, "dpo", "sgd")
    ids, att, resp = collate(
        [synthetic_items["chosen"], synthetic_items["rejected"]], tok.eos_token_id
    )
    logp = sequence_logps(model, ids, att, resp)
    ref = logp.detach()
    pair = lambda t: {"chosen": t[:1], "rejected": t[1:]}
    loss = evaluate_loss("dpo", pair(logp), pair(torch.ones(2)), pair(ref)).loss
    grad = directions.flatten(torch.autograd.grad(loss, directions.trainable(model)))
    torch.testing.assert_close(pred.grad, grad, rtol=1e-5, atol=1e-8)
    assert pred.coef["chosen"] == pytest.approx(-0.05) and pred.coef["rejected"] == pytest.approx(
        0.05
    )


@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop"])
def test_kernel_decomposition_sums_to_the_predicted_change(tiny_neox64, synthetic_items, optimizer):
    """−Σ_r Σ_{m,l} (e_{y_m} − π_m)ᵀ K_{m,l} G_l over all parameters, with K = J_o P J_uᵀ for a
    preconditioned optimiser, equals ⟨∇θ log π(y|χ_o), d⟩."""
    model, tok = tiny_neox64
    pred = first_order.predict_step(model, synthetic_items, tok.eos_token_id, "dpo", optimizer)
    chi = {k: entk.Chi.from_ids(v.ids, v.prompt_len) for k, v in synthetic_items.items()}
    terms = {r: (chi[r], c) for r, c in pred.coef.items()}
    subset = entk.param_subset(model, "all")
    precondition = None
    if optimizer == "rmsprop":  # P = diag(1/(√v + ε)), v = (1 − α) g² after the first update
        opt = directions.OPTIMISERS["rmsprop"].defaults
        v = (1 - opt["alpha"]) * pred.grad**2
        flat = 1 / (v.sqrt() + opt["eps"])
        params = directions.trainable(model)
        precondition = dict(
            zip(
                subset.names,
                (t.view_as(p) for t, p in zip(directions.unflatten(flat, params), params)),
            )
        )
    kind = "random_permute"
    parts = first_order.decomposed_change(model, subset, chi[kind], terms, precondition)
    total = sum(float(m.sum()) for m in parts.values())
    assert total == pytest.approx(pred.per_lr[pred.kinds.index(kind)], rel=1e-5)


def test_sign_agreement_ignores_changes_below_the_noise_floor():
    """Probes whose actual change is within the round-off floor do not count for or against."""
    pred, actual = np.array([1.0, -1.0, 1.0]), np.array([2.0, -0.5, -1e-7])
    assert agreement.sign_agreement(pred, actual) == pytest.approx(2 / 3)
    assert agreement.sign_agreement(pred, actual, floor=1e-6) == 1.0


def test_relative_error_of_a_perfect_prediction_is_zero():
    actual = np.array([0.3, -0.1, 2.0])
    assert simulator.relative_error(actual, actual) == 0.0
    assert agreement.pearson_r(2 * actual, actual) == pytest.approx(1.0)


def test_error_slope_of_a_second_order_error_is_one():
    """err/‖Δ‖ = cη for an O(η²) remainder: slope 1 in log–log."""
    lrs = np.array([1e-4, 1e-3, 1e-2])
    assert agreement.error_slope(lrs, 3.0 * lrs) == pytest.approx(1.0)


def test_dot_over_theta_keeps_float64_accuracy_without_a_float64_copy():
    """⟨a, b⟩ over θ-shaped fp32 lists (chunk sums in float64) matches the float64 dot to far below
    the 1e-5 · Σ|a_i b_i| that the prediction tests allow; a tail shorter than a chunk counts too."""
    gen = torch.Generator().manual_seed(0)
    a = [torch.randn(1000, 1001, generator=gen), torch.randn(37, generator=gen)]
    b = [torch.randn(1000, 1001, generator=gen), torch.randn(37, generator=gen)]
    exact = sum(float(x.double().flatten() @ y.double().flatten()) for x, y in zip(a, b))
    scale = sum(
        float(x.double().abs().flatten() @ y.double().abs().flatten()) for x, y in zip(a, b)
    )
    assert abs(first_order.dot(a, b) - exact) <= 1e-7 * scale
