"""The paper's probe trends and the squeeze measures, read from the experiments exactly as the CLI
runs them (seed 0; a claim whose outcome differs between worlds is read over seeds 0–3).

Each test names the claim; where the claim fails in this world under the paper's assumptions it is
kept as a strict xfail whose reason is the counterexample (README, "Simulator experiments", has
every seed's numbers and the ranges tried).
"""

from dataclasses import replace

import numpy as np
import pytest

from common.runs import COLUMNS, TOKEN_METRICS
from simulator import EXPERIMENTS, PROBE_TYPES, trends
from simulator.metrics import final_values

SEEDS = (0, 1, 2, 3)


@pytest.fixture(scope="module")
def traced(run):
    """Trends and squeeze measures of the default runs that the claims compare, computed once."""
    names = ("sft", "dpo", "sft-dpo", "extend-dpo", "onpolicy-dpo")
    out = {}
    for name in names:
        trace = run(EXPERIMENTS[name])
        out[name] = {**trends(trace), "squeeze": final_values(trace, "squeeze")}
    return out


def _gain(t, probe):
    return t[probe]["end"] - t[probe]["start"]


def test_sft_raises_chosen_its_rephrase_and_other_prompts_answers(traced):
    """Sec. 4.1, Fig. 3: SFT on y⁺ raises y⁺, its rephrase y⁺_gpts and — the hallucination
    signature — y⁺_{j≠u}, the answers of other prompts; uniform random token strings fall."""
    t = traced["sft"]
    for probe in ("chosen", "chosen_gptsemantic", "irr_train"):
        assert _gain(t, probe) > 0, probe
    assert _gain(t, "random_nonhum") < 0


@pytest.mark.xfail(
    strict=True,
    reason="finding: after 150 SFT steps y⁺'s shuffled tokens rise at seeds 0 and 3 (+5.32, "
    "+2.44) and fall at seeds 1 and 2 (−3.56, −2.28): the shared bias and concept features lift "
    "y⁺'s tokens at every position, and the position features have not yet sharpened π on y⁺_l",
)
def test_sft_lowers_the_shuffled_chosen(traced):
    """Sec. 4.1: y⁺ with its tokens permuted is not human-like, so SFT pushes it down."""
    assert _gain(traced["sft"], "random_permute") < 0


def test_off_policy_dpo_lowers_the_rejected_and_squeezes_the_bystanders(run_at):
    """Sec. 4.2, Fig. 4: off-policy DPO drives y⁻ down into a valley, and the probe types that no
    step trains on (rephrases, other prompts' and templates' answers, random and initial
    samples) lose log-probability in mean at every seed 0–3 (−4.47, −2.25, −7.06, −3.11)."""
    for seed in SEEDS:
        trace = run_at(EXPERIMENTS["dpo"], seed)
        assert _gain(trends(trace), "rejected") < -10, seed
        assert final_values(trace, "squeeze")["bystander_change"] < 0, seed


@pytest.mark.xfail(
    strict=True,
    reason="finding: off-policy DPO's y* gain at the positions where y⁺_l is not π₀'s argmax is "
    "−0.43, −1.48, +0.01, −0.59 at seeds 0–3, negative at seeds 0, 1, 3 at every setting tried "
    "(lr 0.1, 2.0; β 0.5; 1000 steps; README): at y⁺'s contexts the direct pull up on y⁺_l, taken "
    "from the argmax, is larger than the squeeze y⁻'s negative gradient carries over the kernel",
)
def test_off_policy_dpo_raises_y_star_where_chosen_is_not_the_argmax(traced):
    """Sec. 3.3/4.2: the squeeze moves mass into the argmax; along y⁺ this shows where y⁺_l is not
    the argmax (elsewhere the y* gain is y⁺'s own)."""
    assert traced["dpo"]["squeeze"]["y_star_gain_off_argmax"] > 0


@pytest.mark.xfail(
    strict=True,
    reason="finding: on-policy DPO lowers the bystanders more, not less (seeds 0–3: −7.17, −5.70, "
    "−8.84, −6.06 vs off-policy −4.47, −2.25, −7.06, −3.11; also with 2 or 8 samples per prompt; "
    "at lr 0.1 it holds at seeds 0 and 2 only; with a greedier y⁺ at every seed); the ablation "
    "(test_the_on_policy_negative_spares_the_bystanders) shows why: the on-policy y⁻ spares them, "
    "the on-policy y⁺ (the policy's best sample) sharpens π onto its modes",
)
def test_on_policy_dpo_squeezes_the_bystanders_less(traced):
    """Sec. 4.2: on-policy y⁻ are never in valleys, so the squeeze on the bystanders is weaker."""
    on = traced["onpolicy-dpo"]["squeeze"]["bystander_change"]
    off = traced["dpo"]["squeeze"]["bystander_change"]
    assert abs(on) < abs(off)


def test_the_on_policy_negative_spares_the_bystanders(run, traced):
    """The on-policy ablation (`ONPOLICY_ABLATION`), seed 0 (README has seeds 0–3): with the fixed
    y⁺, an on-policy y⁻ (never in a valley) leaves the bystanders *higher* than at the start,
    while the fixed valley y⁻ with an on-policy y⁺ lowers them most and lifts y* off y⁺'s
    argmax positions: the negative's valley, not the positive's source, sets the squeeze."""
    arm = {
        name: final_values(run(EXPERIMENTS[name]), "squeeze")
        for name in ("onpolicy-chosen-dpo", "onpolicy-rejected-dpo")
    }
    off = traced["dpo"]["squeeze"]
    assert arm["onpolicy-rejected-dpo"]["bystander_change"] > 0 > off["bystander_change"]
    assert off["bystander_change"] > arm["onpolicy-chosen-dpo"]["bystander_change"]
    assert arm["onpolicy-chosen-dpo"]["y_star_gain_off_argmax"] > 0


@pytest.mark.xfail(
    strict=True,
    reason="finding: off-policy DPO raises y⁺ at every seed 0–3 (seed 0: −48.91 → −34.65, still "
    "rising at step 3000: −31.30); y⁺ falls under DPO only once SFT has made it nearly greedy "
    "(sft-dpo after 100 SFT steps: −6.86 → −7.37, peak −6.69)",
)
def test_long_off_policy_dpo_lowers_chosen(traced):
    """Sec. 4.2, Fig. 4: run long, off-policy DPO makes y⁺ less likely than at its start."""
    assert traced["dpo"]["chosen"]["end"] < traced["dpo"]["chosen"]["start"]


@pytest.mark.xfail(
    strict=True,
    reason="finding: extension ends with y⁺ below sft-dpo's at seeds 0–3 (seed 0: −25.55 vs "
    "−23.99; also at 30 and 100 SFT steps): SFT on y⁺ and y⁻ starts DPO from a lower y⁺ (−37.61 "
    "vs −32.21), and its larger DPO gain (+12.06 vs +8.22) does not make up for it",
)
def test_extension_keeps_chosen_higher_than_sft_then_dpo(traced):
    """Sec. 4.3: SFT on y⁺ and y⁻ before DPO leaves y⁺ higher after the same DPO run."""
    assert traced["extend-dpo"]["chosen"]["end"] > traced["sft-dpo"]["chosen"]["end"]


def test_extension_weakens_the_squeeze_on_the_bystanders(traced):
    """Sec. 4.3: with y⁻ lifted out of the valley, DPO squeezes less: the bystanders lose less."""
    extended = traced["extend-dpo"]["squeeze"]["bystander_change"]
    base = traced["sft-dpo"]["squeeze"]["bystander_change"]
    assert base < extended < 0


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
