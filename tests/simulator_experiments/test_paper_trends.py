"""The paper's probe trends, read from the experiments exactly as the CLI runs them (seed 0; a
claim whose outcome differs between worlds is read over seeds 0–2 and asserted for most of them).

Each test names the claim; where the claim fails in this world under the paper's assumptions it is
kept as a strict xfail whose reason is the counterexample (README, "Simulator experiments").
"""

from dataclasses import replace

import numpy as np
import pytest

from common.runs import COLUMNS, TOKEN_METRICS
from simulator import EXPERIMENTS, PROBE_TYPES, trends


@pytest.fixture(scope="module")
def traced(run):
    """trends of the default runs that the claims compare, computed once."""
    names = ("sft", "dpo", "sft-dpo", "extend-dpo", "onpolicy-dpo")
    return {name: trends(run(EXPERIMENTS[name])) for name in names}


def _gain(t, probe):
    return t[probe]["end"] - t[probe]["start"]


def test_sft_raises_chosen_its_rephrase_and_other_prompts_answers(traced):
    """Sec. 4.1, Fig. 3: SFT on y⁺ raises y⁺, its rephrase y⁺_gpts and — the hallucination
    signature — y⁺_{j≠u}, the answers of other prompts; non-human sequences fall."""
    t = traced["sft"]
    for probe in ("chosen", "chosen_gptsemantic", "irr_train"):
        assert _gain(t, probe) > 0, probe
    for probe in ("random_nonhum", "random_permute"):
        assert _gain(t, probe) < 0, probe


def test_long_off_policy_dpo_lowers_everything_but_the_argmax(traced):
    """Sec. 4.2, Fig. 4: run long, off-policy DPO makes y⁺ less likely than at its start and its
    peak, every other probe falls, and the greedy y* rises: the squeezing effect."""
    t = traced["dpo"]
    assert t["chosen"]["end"] < t["chosen"]["start"]
    assert t["chosen"]["end"] < t["chosen"]["max"]
    for probe in PROBE_TYPES:
        if probe not in ("chosen", "y_star"):
            assert _gain(t, probe) < 0, probe
    assert _gain(t, "y_star") > 0


def test_extension_keeps_chosen_higher_than_sft_then_dpo(traced):
    """Sec. 4.3: SFT on y⁺ and y⁻ before DPO leaves y⁺ higher after the same DPO run."""
    assert traced["extend-dpo"]["chosen"]["end"] > traced["sft-dpo"]["chosen"]["end"]


@pytest.mark.xfail(
    strict=True,
    reason="finding: after 100 SFT steps extension's y* gain is the larger one at seeds 0–2 "
    "(seed 0: +1.29 vs +1.13); over seeds 0–7 × SFT length 10/30/100 it is smaller in 4 of 24 "
    "cases, all at 10 or 30 steps, where the two starts barely differ. Our reading: after SFT on "
    "both, y⁺ and y⁻ split the mass at shared contexts, and DPO re-concentrates it on y⁺, "
    "which lifts y* more than the squeeze it removes",
)
def test_extension_weakens_the_y_star_gain(run_at):
    """Sec. 4.3: with y⁻ lifted out of the valley, DPO squeezes less, so y* gains less — in most
    worlds (seeds 0–2), after an SFT stage long enough (100 steps) to lift y⁻ well out of it."""
    smaller = []
    for seed in (0, 1, 2):
        base, extended = (
            trends(run_at(replace(EXPERIMENTS[name], pre_sft_steps=100), seed))
            for name in ("sft-dpo", "extend-dpo")
        )
        smaller.append(_gain(extended, "y_star") < _gain(base, "y_star"))
    assert sum(smaller) > len(smaller) / 2, smaller


@pytest.mark.xfail(
    strict=True,
    reason="finding: on-policy DPO raises y* more (1.47 vs 0.85 at seed 0; 16 of 16 cases). "
    "Our reading: its pairs are the "
    "policy's own modes, and pushing the better mode up sharpens π along y⁺'s contexts",
)
def test_on_policy_dpo_gains_less_y_star(traced):
    """Sec. 4.2: on-policy y⁻ are never in valleys, so the squeeze — and y*'s gain — is smaller."""
    assert _gain(traced["onpolicy-dpo"], "y_star") < _gain(traced["dpo"], "y_star")


def test_on_policy_dpo_keeps_chosen_from_collapsing(traced):
    """The part of the on-policy claim that holds here: y⁺ ends far above off-policy DPO's."""
    assert traced["onpolicy-dpo"]["chosen"]["end"] > traced["dpo"]["chosen"]["end"] + 5.0


def test_peakier_start_gives_a_larger_dpo_drop_of_chosen(run):
    """Sec. 4.2: the longer the SFT before DPO (a peakier π with y⁺ further out of reach of the
    squeeze's argmax), the more DPO pulls y⁺ down. Holds over 0–30 SFT steps at lr 0.05; beyond
    that the drop saturates (README has the range)."""
    drops = []
    for n in (0, 10, 30):
        t = trends(run(replace(EXPERIMENTS["sft-dpo"], pre_sft_steps=n)))
        drops.append(t["chosen"]["start"] - t["chosen"]["end"])
    assert np.all(np.diff(drops) > 0), drops


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_every_experiment_runs_at_small_size_and_traces_every_probe(run, name):
    cfg = replace(
        EXPERIMENTS[name],
        steps=6,
        eval_every=3,
        pre_sft_steps=min(3, EXPERIMENTS[name].pre_sft_steps),
    )
    trace = run(cfg)
    rows = list(trace.rows())
    assert all(len(r) == len(COLUMNS) for r in rows)
    assert set(np.unique(trace.step)) == {0, 3, 6}
    assert set(trace.probe_type[trace.metric == "logp"]) == set(PROBE_TYPES)
    for metric in TOKEN_METRICS:
        steps, values = trace.series("chosen", metric)
        assert steps.size == 3 and np.all(np.isfinite(values)), metric
    keep = (trace.probe_type == "chosen") & (trace.metric == "logp")
    seen = trace.examples_seen[keep][np.argsort(trace.step[keep])]
    assert seen[0] == 0 and seen[-1] > 0 and np.all(np.diff(seen) >= 0)
    assert all(np.isfinite(v) for t in trends(trace).values() for v in t.values())


def test_y_star_bounds_chosen_at_every_evaluation(run):
    """y* is the per-position argmax along y⁺, so log π(y*) ≥ log π(y⁺) whenever both are read."""
    trace = run(replace(EXPERIMENTS["dpo"], steps=40, eval_every=10))
    _, chosen = trace.series("chosen")
    _, y_star = trace.series("y_star")
    assert np.all(y_star >= chosen - 1e-12)


def test_rmsprop_option_runs_and_moves_the_model(run):
    """The paper's runs used RMSprop: the diagonal preconditioner is one config field away."""
    t = trends(run(replace(EXPERIMENTS["dpo"], optimizer="rmsprop", lr=1e-3, steps=20)))
    assert _gain(t, "rejected") < 0


def test_sft_rephrase_gain_is_transient_once_chosen_saturates(run):
    """Range of the SFT claim: y⁺_gpts rises only while π(y⁺) is far from 1; run 1000 steps and
    the 0.2 of the push that separates y⁺ from its synonym wins (seed 0: −13.96 → −18.10)."""
    t = trends(run(replace(EXPERIMENTS["sft"], steps=1000, eval_every=50)))
    assert t["chosen_gptsemantic"]["max"] > t["chosen_gptsemantic"]["start"]
    assert t["chosen_gptsemantic"]["end"] < t["chosen_gptsemantic"]["start"]


def test_dpo_lifts_chosen_before_it_squeezes_it(run):
    """Range of the DPO claim: early on y⁺ still rises, and the squeeze takes over within the first
    100 steps (seed 0: −6.92 → −6.13 at step 20, back below its start by step 60; every seed 0–7
    peaks above its start); only a long run drags it far below its start."""
    t = trends(run(replace(EXPERIMENTS["dpo"], steps=100)))
    assert t["chosen"]["max"] > t["chosen"]["start"]
    assert t["chosen"]["end"] < t["chosen"]["max"]
