"""The paper's probe trends and the squeeze measures, read from the experiments exactly as the CLI
runs them, and decided on every seed 0–3 (`python -m simulator run NAME --seeds 0-3`).

Each test names the claim; where the claim fails in this world under the paper's assumptions it is
kept as a strict xfail whose reason is the counterexample (docs/simulator.md, "Simulator experiments", has
every seed's numbers and the ranges tried).
"""

from dataclasses import replace

import numpy as np
import pytest

from common.runs import COLUMNS, TOKEN_METRICS
from simulator import EXPERIMENTS, PROBE_TYPES, trends
from simulator.experiments import with_overrides
from simulator.metrics import dpo_picture

SEEDS = (0, 1, 2, 3)


def _gain(t, probe):
    return t[probe]["end"] - t[probe]["start"]


def _at_every_seed(outcome, name: str, **overrides) -> list[dict]:
    """The outcome of experiment `name` (with overrides) at each of `SEEDS`."""
    cfg = with_overrides(EXPERIMENTS[name], **overrides)
    return [outcome(cfg, seed) for seed in SEEDS]


def test_sft_raises_chosen_its_rephrase_and_other_prompts_answers(outcome):
    """Sec. 4.1, Fig. 3: SFT on y⁺ raises y⁺, its rephrase y⁺_gpts and — the hallucination
    signature — y⁺_{j≠u}, the answers of other prompts; uniform random token strings fall
    (seeds 0–3: y⁺ +43.9, +45.9, +39.1, +41.9; random_nonhum −1.65, −3.79, −2.47, −0.97)."""
    for seed, t in zip(SEEDS, _at_every_seed(outcome, "sft")):
        for probe in ("chosen", "chosen_gptsemantic", "irr_train"):
            assert _gain(t, probe) > 0, (seed, probe)
        assert _gain(t, "random_nonhum") < 0, seed


@pytest.mark.xfail(
    strict=True,
    reason="finding: after 150 SFT steps y⁺'s shuffled tokens rise at every seed 0–3 (+3.29, "
    "+8.11, +3.32, +0.71): the shared bias and concept features lift y⁺'s tokens at every "
    "position, and the position features have not yet sharpened π on y⁺_l",
)
def test_sft_lowers_the_shuffled_chosen(outcome):
    """Sec. 4.1: y⁺ with its tokens permuted is not human-like, so SFT pushes it down."""
    for seed, t in zip(SEEDS, _at_every_seed(outcome, "sft")):
        assert _gain(t, "random_permute") < 0, seed


def test_sft_raises_y_star(outcome):
    """Sec. 4.1: SFT sharpens π along y⁺, so the greedy response y* gains too (seeds 0–3: +2.15,
    +2.63, +3.71, +3.67; Pythia-410M's official log: +17.1)."""
    for seed, t in zip(SEEDS, _at_every_seed(outcome, "sft")):
        assert _gain(t, "y_star") > 0, seed


def test_off_policy_dpo_lowers_the_rejected_and_squeezes_the_bystanders(outcome):
    """Sec. 4.2, Fig. 4: off-policy DPO drives y⁻ down into a valley, and the probe types that no
    step trains on (rephrases, other prompts' and templates' answers, random and initial
    samples) lose log-probability in mean at every seed 0–3 (−50.4, −52.7, −43.4, −52.8)."""
    for seed, t in zip(SEEDS, _at_every_seed(outcome, "dpo")):
        assert _gain(t, "rejected") < -10, seed
        assert t["squeeze"]["bystander_change"] < 0, seed


def test_off_policy_dpo_raises_y_star_where_chosen_is_not_the_argmax(outcome):
    """Sec. 3.3/4.2: the squeeze moves mass into the argmax; along y⁺ this shows where y⁺_l is not
    the argmax (elsewhere the y* gain is y⁺'s own), and the mass outside the argmax falls, as
    along y⁺ in the reference SmolLM2 run (0.52 → 0.37): seeds 0–3 +0.64, +1.09, +1.15, +1.00 and
    −0.015, −0.049, −0.045, −0.045."""
    for seed, t in zip(SEEDS, _at_every_seed(outcome, "dpo")):
        assert t["squeeze"]["y_star_gain_off_argmax"] > 0, seed
        assert t["squeeze"]["mass_outside_argmax_change"] < 0, seed


def test_long_off_policy_dpo_lowers_chosen(outcome):
    """Sec. 4.2, Fig. 4: run long, off-policy DPO makes y⁺ less likely than at its start, after
    a rise: at every seed 0–3 (start → peak → end: −48.4 → −44.7 → −69.4, −50.2 → −48.1 →
    −67.4, −43.7 → −40.8 → −54.3, −45.5 → −41.1 → −59.5)."""
    for seed, t in zip(SEEDS, _at_every_seed(outcome, "dpo")):
        assert t["chosen"]["max"] > t["chosen"]["start"] > t["chosen"]["end"], seed


def test_long_off_policy_dpo_shows_the_papers_picture_at_every_seed(outcome):
    """Sec. 4.2, Fig. 4, every part of it at every seed 0–3 (`dpo_picture`): y⁺ peaks then ends
    below its start, y⁻ falls most, every untrained type falls, irr_train rises then falls
    (+2.3/−33.1, +1.2/−28.0, +2.1/−18.4, +2.9/−25.6), y* rises (+0.36, +1.15, +1.12, +1.11)."""
    for seed, t in zip(SEEDS, _at_every_seed(outcome, "dpo")):
        picture = dpo_picture(t)
        assert all(picture.values()), (seed, picture)


def test_with_sgd_chosen_stays_above_its_start(outcome):
    """The named contrast `dpo-sgd`: plain SGD's step shrinks with σ(−βh) as the loss saturates,
    so y⁺ rises and stalls above its start at every seed 0–3 (−48.4 → −47.1, −50.2 → −47.9,
    −43.7 → −42.5, −45.5 → −42.0): RMSprop keeping its step size is what lets y⁺ fall in `dpo`,
    as in the reference SmolLM2 run, whose loss is 0.007 while y⁺ still falls."""
    for seed, t in zip(SEEDS, _at_every_seed(outcome, "dpo-sgd")):
        assert t["chosen"]["end"] > t["chosen"]["start"], seed


def test_without_a_shared_opening_y_star_falls(outcome):
    """The world ablation: when y⁻ shares none of y⁺'s opening (shared_opening = 0), DPO's
    pushes on y⁺ and y⁻ no longer cancel on shared contexts, y⁺'s own push takes mass from the
    argmax along y⁺, and y* ends below its start at every seed 0–3 (−1.7, −1.6, −1.0, −1.0)."""
    for seed, t in zip(SEEDS, _at_every_seed(outcome, "dpo", shared_opening=0.0)):
        assert _gain(t, "y_star") < 0, seed


@pytest.mark.xfail(
    strict=True,
    reason="finding: against off-policy DPO with the same SGD (`dpo-sgd`) on the shared-opening "
    "world, on-policy DPO lowers the bystanders less at seeds 0, 1, 3 but not at seed 2 (−6.76 vs "
    "−9.12, −7.08 vs −7.47, −8.90 vs −8.62, −5.17 vs −6.91); the ablation "
    "(test_the_on_policy_negative_spares_the_bystanders) shows why it is close: the on-policy y⁻ "
    "spares them, the on-policy y⁺ (the policy's best sample) sharpens π onto its modes",
)
def test_on_policy_dpo_squeezes_the_bystanders_less(outcome):
    """Sec. 4.2: on-policy y⁻ are never in valleys, so the squeeze on the bystanders is weaker
    than off-policy DPO's with the same optimiser (`dpo-sgd`), at every seed 0–3."""
    pairs = zip(_at_every_seed(outcome, "onpolicy-dpo"), _at_every_seed(outcome, "dpo-sgd"))
    for seed, (on, off) in zip(SEEDS, pairs):
        on_change, off_change = (
            on["squeeze"]["bystander_change"],
            off["squeeze"]["bystander_change"],
        )
        assert abs(on_change) < abs(off_change), seed


def test_the_on_policy_negative_spares_the_bystanders(outcome):
    """The on-policy ablation (`ONPOLICY_ABLATION`), seed 0 (docs/simulator.md has seeds 0–3): with the fixed
    y⁺, an on-policy y⁻ (never in a valley) leaves the bystanders *higher* than at the start,
    while the fixed valley y⁻ with an on-policy y⁺ lowers them most and lifts y* off y⁺'s
    argmax positions: the negative's valley, not the positive's source, sets the squeeze."""
    arm = {
        name: outcome(EXPERIMENTS[name], 0)["squeeze"]
        for name in ("dpo-sgd", "onpolicy-chosen-dpo", "onpolicy-rejected-dpo")
    }
    off = arm["dpo-sgd"]
    assert arm["onpolicy-rejected-dpo"]["bystander_change"] > 0 > off["bystander_change"]
    assert off["bystander_change"] > arm["onpolicy-chosen-dpo"]["bystander_change"]
    assert arm["onpolicy-chosen-dpo"]["y_star_gain_off_argmax"] > 0


def test_extension_lifts_rejected_before_dpo(outcome):
    """Sec. 4.3: SFT on y⁺ and y⁻ leaves y⁻ likelier when DPO starts than SFT on y⁺ alone, out of
    the valley where the squeeze is strongest (y⁻ at DPO's start, seeds 0–3: −32.79 vs −34.90,
    −34.36 vs −36.40, −30.46 vs −32.58, −30.12 vs −31.95; y⁻ shares y⁺'s opening, so SFT on y⁺
    lifts it as well)."""
    pairs = zip(_at_every_seed(outcome, "extend-dpo"), _at_every_seed(outcome, "sft-dpo"))
    for seed, (extended, base) in zip(SEEDS, pairs):
        assert extended["rejected"]["start"] > base["rejected"]["start"], seed


def test_extension_keeps_chosen_higher_than_sft_then_dpo(outcome):
    """Sec. 4.3: SFT on y⁺ and y⁻ before DPO leaves y⁺ higher after the same DPO run (seeds 0–3:
    −31.46 vs −31.98, −32.81 vs −33.04, −30.58 vs −30.93, −28.93 vs −29.28)."""
    pairs = zip(_at_every_seed(outcome, "extend-dpo"), _at_every_seed(outcome, "sft-dpo"))
    for seed, (extended, base) in zip(SEEDS, pairs):
        assert extended["chosen"]["end"] > base["chosen"]["end"], seed


def test_extension_weakens_the_squeeze_on_the_bystanders(outcome):
    """Sec. 4.3: with y⁻ lifted out of the valley, DPO squeezes less: the bystanders lose less
    (seeds 0–3: −9.02 vs −10.22, −7.48 vs −8.68, −8.50 vs −9.93, −7.33 vs −8.54)."""
    pairs = zip(_at_every_seed(outcome, "extend-dpo"), _at_every_seed(outcome, "sft-dpo"))
    for seed, (extended, base) in zip(SEEDS, pairs):
        extended_change = extended["squeeze"]["bystander_change"]
        assert base["squeeze"]["bystander_change"] < extended_change < 0, seed


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
