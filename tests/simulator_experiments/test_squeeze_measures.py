"""The squeeze measures (`simulator.metrics.SQUEEZE_METRICS`) measure what their names say."""

from dataclasses import replace

import numpy as np

from simulator import EXPERIMENTS, PROBE_TYPES
from simulator.experiments import ONPOLICY_ABLATION, ablation, probe_batches
from simulator.metrics import (
    BYSTANDERS,
    SQUEEZE_METRICS,
    squeeze_measures,
    squeeze_start,
)
from simulator.sequences import gradient, residual_of, token_logp


def test_bystanders_are_every_probe_type_but_the_trained_pair_and_y_star():
    assert set(BYSTANDERS) == set(PROBE_TYPES) - {"chosen", "rejected", "y_star"}


def test_squeeze_measures_start_at_zero(run):
    trace = run(replace(EXPERIMENTS["dpo"], steps=4, eval_every=2))
    for metric in SQUEEZE_METRICS:
        steps, values = trace.series("squeeze", metric)
        assert steps.tolist() == [0, 2, 4] and values[0] == 0.0, metric


def test_squeeze_measures_match_their_definitions_after_a_dpo_step(world, start):
    """After one large DPO step: bystander_change is the mean Δ log π over the bystanders;
    y_star_gain_off_argmax and the gain at positions where y⁺_l *is* π₀'s argmax add up to the
    whole y* gain; mass_outside_argmax_change is the change of 1 − max π along y⁺."""
    probes = probe_batches(world, start, np.random.default_rng(0))
    ref = squeeze_start(start, probes)
    pair = {"chosen": probes["chosen"], "rejected": probes["rejected"]}
    _, g, phi = residual_of(start, "dpo", pair, start)
    moved = start.with_m(start.m - 20.0 * gradient(start, phi, g) / world.cfg.n_train)

    def mean_logp(model):
        out = {}
        for name, batch in probes.items():
            logp = token_logp(model, batch)
            tokens = batch.tokens.reshape(-1)
            out[name] = logp[np.arange(tokens.size), tokens].reshape(batch.tokens.shape).sum(1)
            if name == "chosen":
                out["y_star"] = logp.max(axis=1).reshape(batch.tokens.shape).sum(1)
        return {k: float(v.mean()) for k, v in out.items()}, token_logp(model, probes["chosen"])

    before, logp0 = mean_logp(start)
    after, logp1 = mean_logp(moved)
    shape = probes["chosen"].tokens.shape
    got = squeeze_measures(after, logp1, shape, ref)

    byst = np.mean([after[p] - before[p] for p in PROBE_TYPES if p in BYSTANDERS])
    on_argmax = np.where(ref.off_argmax, 0.0, logp1.max(1) - logp0.max(1))
    on_argmax = on_argmax.reshape(shape).sum(1).mean()
    outside = np.mean(1 - np.exp(logp1.max(1))) - np.mean(1 - np.exp(logp0.max(1)))
    # Same sums in another order: round-off of a few eps × the ~50-nat log-probs.
    np.testing.assert_allclose(got["bystander_change"], byst, atol=1e-10)
    np.testing.assert_allclose(
        got["y_star_gain_off_argmax"] + on_argmax, after["y_star"] - before["y_star"], atol=1e-10
    )
    np.testing.assert_allclose(got["mass_outside_argmax_change"], outside, atol=1e-12)
    assert got["bystander_change"] != 0.0 and got["y_star_gain_off_argmax"] != 0.0
    assert ref.off_argmax.mean() > 0.5  # y⁺ is not greedy: most positions count


def test_onpolicy_ablation_reports_the_squeeze_of_every_arm(world, start):
    """The named ablation: off-policy DPO (with the same SGD as the on-policy arms), on-policy
    pairs, and each side on-policy alone."""
    assert ONPOLICY_ABLATION == (
        "dpo-sgd",
        "onpolicy-dpo",
        "onpolicy-chosen-dpo",
        "onpolicy-rejected-dpo",
    )
    assert EXPERIMENTS["onpolicy-chosen-dpo"].on_policy == ("chosen",)
    assert EXPERIMENTS["onpolicy-rejected-dpo"].on_policy == ("rejected",)
    out = ablation(ONPOLICY_ABLATION, world, start, np.random.default_rng(0), steps=3)
    assert list(out) == list(ONPOLICY_ABLATION)
    for name, measures in out.items():
        assert set(measures) == set(SQUEEZE_METRICS), name
        assert all(np.isfinite(v) for v in measures.values()), name


def test_token_metrics_by_hand_on_two_contexts():
    """The residual norm, pinned by hand. π = (0.5, 0.25, 0.25) with y = 1 and
    π = (0.1, 0.9, 0) with y = 1:
    residual ‖π − e_y‖ = √(0.25 + 0.5625 + 0.0625) = √0.875 and √(0.01 + 0.01) = √0.02;
    1 − π_y = 0.75 and 0.1; mass outside the argmax 0.5 and 0.1;
    ‖A‖_F = √(V‖π‖² + V − 2) = √(3·0.375 + 1) and √(3·0.82 + 1)."""
    from simulator.metrics import context_metrics

    with np.errstate(divide="ignore"):
        logp = np.log(np.array([[0.5, 0.25, 0.25], [0.1, 0.9, 0.0]]))
    m = context_metrics(logp, np.array([1, 1]))
    np.testing.assert_allclose(m["residual_norm"], (np.sqrt(0.875) + np.sqrt(0.02)) / 2)
    np.testing.assert_allclose(m["one_minus_pi"], (0.75 + 0.1) / 2)
    np.testing.assert_allclose(m["mass_outside_argmax"], (0.5 + 0.1) / 2)
    expected_a = (np.sqrt(3 * 0.375 + 1) + np.sqrt(3 * 0.82 + 1)) / 2
    np.testing.assert_allclose(m["a_frobenius"], expected_a)
