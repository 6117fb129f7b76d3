"""The paper's multi-epoch signatures (`measure.trends`), decided on run folders written by hand."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from common.probes import BYSTANDERS, PROBE_TYPES, Y_STAR
from common.runs import PROMPT_COLUMNS, PROMPTS, write_metrics
from llm_validation.cli import main
from llm_validation.measure.trends import SIGNATURES, evaluate, find_runs, markdown


def write_run(root, name, method, curves, steps=(0, 4, 8), prompts=None, **config):
    """A run folder whose `logp` of each type follows curves[type] (default: a flat −100).

    prompts=(P, sd, rng): also a prompts.csv of P prompts whose values are the curve plus an
    independent N(0, sd²) draw per prompt and step, with metrics.csv their means."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"method": method, "steps": 8, **config}))
    rows, prompt_rows = [], []
    for i, step in enumerate(steps):
        for kind in (*PROBE_TYPES, Y_STAR):
            value = curves.get(kind, [-100.0] * len(steps))[i]
            if prompts is not None:
                n, sd, rng = prompts
                per_prompt = value + sd * rng.standard_normal(n)
                prompt_rows += [(step, kind, f"p{j}", v) for j, v in enumerate(per_prompt)]
                value = float(per_prompt.mean())
            rows.append((step, 4 * step, kind, "logp", value))
        rows.append((step, 4 * step, "train", "loss", 0.5))
    write_metrics(folder / "metrics.csv", rows)
    if prompts is not None:
        with (folder / PROMPTS).open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(PROMPT_COLUMNS)
            writer.writerows(prompt_rows)
    return folder


# Off-policy DPO as the official logs draw it: y⁺ up then below, y⁻ down most, y* up, every other
# type down, irr_train first up.
PAPER_DPO = {
    "chosen": [-150.0, -147.0, -156.0],
    "rejected": [-100.0, -140.0, -176.0],
    Y_STAR: [-60.0, -50.0, -41.0],
    **{k: [-100.0, -101.0, -130.0] for k in BYSTANDERS},
    "irr_train": [-137.0, -134.0, -167.0],
}


def verdicts(root) -> dict[str, str]:
    runs, _ = find_runs(root)
    return {r["key"]: r["verdict"] for r in evaluate(runs)}


def test_the_official_logs_dpo_shape_holds_every_dpo_signature(tmp_path):
    write_run(tmp_path, "dpo", "dpo", PAPER_DPO)
    v = verdicts(tmp_path)
    dpo = [s.key for s in SIGNATURES if s.methods == ("dpo",)]
    assert len(dpo) == 5 and all(v[k] == "holds" for k in dpo)
    assert v["sft_chosen_rises"] == "not run"  # no sft run in the folder


def test_chosen_rising_throughout_contradicts_the_claim_with_its_numbers(tmp_path):
    write_run(tmp_path, "dpo", "dpo", {**PAPER_DPO, "chosen": [-134.8, -120.0, -112.8]})
    runs, _ = find_runs(tmp_path)
    row = next(r for r in evaluate(runs) if r["key"] == "dpo_chosen_peak_then_below")
    assert row["verdict"] == "contradicted"
    assert "−134.8 → peak −112.8 (step 8) → −112.8" in row["ours"]
    assert row["interval"] is None and "no interval" in row["ours"]


def test_a_bystander_within_the_noise_floor_is_named_and_leaves_the_claim_open(tmp_path):
    """Without prompts.csv a +0.5-nat change of a −100 curve is below the 1-nat noise floor:
    neither a fall nor a rise."""
    write_run(tmp_path, "dpo", "dpo", {**PAPER_DPO, "chosen_gptformat": [-100.0, -99.0, -99.5]})
    runs, _ = find_runs(tmp_path)
    row = next(r for r in evaluate(runs) if r["key"] == "dpo_others_end_below")
    assert row["verdict"] == "inconclusive"
    assert "not clearly below: chosen_gptformat" in row["ours"]


def test_a_bystander_that_rises_past_the_floor_contradicts(tmp_path):
    write_run(tmp_path, "dpo", "dpo", {**PAPER_DPO, "chosen_gptformat": [-100.0, -99.0, -98.5]})
    assert verdicts(tmp_path)["dpo_others_end_below"] == "contradicted"


def test_rejected_falls_most_names_the_types_that_fall_more(tmp_path):
    write_run(tmp_path, "dpo", "dpo", {**PAPER_DPO, "random_permute": [-300.0, -350.0, -400.0]})
    runs, _ = find_runs(tmp_path)
    row = next(r for r in evaluate(runs) if r["key"] == "dpo_rejected_falls_most")
    assert row["verdict"] == "contradicted"
    assert "rank 2 of 13 (falling more: random_permute −100.0)" in row["ours"]


def test_irr_train_rising_only_at_the_end_is_not_rising_first(tmp_path):
    """A peak at the last evaluation has no fall after it: the claim is not shown."""
    write_run(tmp_path, "dpo", "dpo", {**PAPER_DPO, "irr_train": [-137.0, -140.0, -130.0]})
    assert verdicts(tmp_path)["dpo_irr_train_rises_first"] == "inconclusive"


def test_the_extension_is_read_where_its_dpo_begins(tmp_path):
    """sft_steps 4: y⁻ is compared at step 4 (−80 vs −95), y⁺ at the last common step."""
    write_run(
        tmp_path,
        "ext",
        "extend-dpo",
        {"rejected": [-100.0, -80.0, -120.0], "chosen": [-130.0, -90.0, -95.0]},
        sft_steps=4,
    )
    write_run(
        tmp_path,
        "base",
        "sft-dpo",
        {"rejected": [-100.0, -95.0, -100.0], "chosen": [-130.0, -85.0, -99.0]},
        sft_steps=4,
    )
    runs, _ = find_runs(tmp_path)
    rows = {r["key"]: r for r in evaluate(runs)}
    lifted = rows["extension_lifts_rejected"]
    assert lifted["verdict"] == "holds"
    assert lifted["ours"].startswith(
        "y⁻ as DPO starts: −80.0 after SFT on y⁺ and y⁻ (step 4) vs −95.0"
    )
    assert rows["extension_chosen_ends_higher"]["verdict"] == "holds"
    assert rows["extension_chosen_ends_higher"]["runs"] == ["ext", "base"]


def test_extension_and_baseline_are_compared_after_as_many_dpo_steps(tmp_path):
    """A baseline with half the SFT steps (2 of 4) is read 4 DPO steps in at step 6, not at the
    extension's step 8: −97 at step 6 beats the extension's −98, though −90 at step 8 would not."""
    write_run(tmp_path, "ext", "extend-dpo", {"chosen": [-130.0, -110.0, -98.0]}, sft_steps=4)
    base = {"chosen": [-130.0, -100.0, -99.0, -97.0, -90.0]}
    write_run(tmp_path, "base", "sft-dpo", base, steps=(0, 2, 4, 6, 8), sft_steps=2)
    runs, _ = find_runs(tmp_path)
    row = next(r for r in evaluate(runs) if r["key"] == "extension_chosen_ends_higher")
    assert row["verdict"] == "inconclusive"  # −1.0 nat, inside the 1.3-nat floor of a −130 curve
    assert row["ours"].startswith("y⁺ after 4 DPO steps: −98.0 (extension) vs −97.0 (baseline).")


def test_the_extensions_dpo_phase_is_not_read_as_its_sft_phase(tmp_path):
    """y⁻ higher at the end but lower than the baseline at the boundary: contradicted."""
    write_run(tmp_path, "ext", "extend-dpo", {"rejected": [-100.0, -99.0, -80.0]}, sft_steps=4)
    write_run(tmp_path, "base", "sft-dpo", {"rejected": [-100.0, -90.0, -120.0]}, sft_steps=4)
    assert verdicts(tmp_path)["extension_lifts_rejected"] == "contradicted"


def test_on_policy_is_compared_with_off_policy_at_their_last_common_step(tmp_path):
    """The on-policy run stops at step 4; off-policy DPO's bystanders are −1 there (−30 later), so
    an on-policy fall of −3 by step 4 falls more: contradicted, though −3 > −30."""
    write_run(tmp_path, "off", "dpo", PAPER_DPO)
    onpolicy = {k: [-100.0, -103.0] for k in BYSTANDERS}
    write_run(tmp_path, "on", "onpolicy-dpo", onpolicy, steps=(0, 4))
    runs, _ = find_runs(tmp_path)
    row = next(r for r in evaluate(runs) if r["key"] == "onpolicy_spares_untrained")
    assert row["verdict"] == "contradicted" and "by step 4" in row["ours"]


def test_a_type_the_run_did_not_track_is_not_run_not_a_finding(tmp_path):
    folder = write_run(tmp_path, "dpo", "dpo", PAPER_DPO)
    text = (folder / "metrics.csv").read_text().splitlines()
    (folder / "metrics.csv").write_text("\n".join(ln for ln in text if ",irr_train," not in ln))
    runs, _ = find_runs(tmp_path)
    row = next(r for r in evaluate(runs) if r["key"] == "dpo_irr_train_rises_first")
    assert row["verdict"] == "not run" and row["ours"] == "'irr_train' not tracked"


def test_a_second_run_with_other_settings_is_named_not_silently_dropped(tmp_path):
    write_run(tmp_path, "a-dpo", "dpo", PAPER_DPO, lr=5e-6, out="runs/a-dpo", seed=0)
    write_run(tmp_path, "b-dpo", "dpo", PAPER_DPO, lr=1e-5, out="runs/b-dpo", seed=1)
    runs, notes = find_runs(tmp_path)
    assert [r.name for r in runs["dpo"]] == ["a-dpo"]
    assert notes[-1] == (
        "b-dpo: a second dpo run with other settings (lr); using a-dpo (first by name); "
        f"--runs {tmp_path / 'b-dpo'} reads it"
    )


def test_runs_that_differ_only_in_their_seed_are_pooled(tmp_path):
    rng = np.random.default_rng(0)
    for seed in (0, 1):
        write_run(tmp_path, f"dpo-{seed}", "dpo", PAPER_DPO, prompts=(8, 1.0, rng), seed=seed)
    runs, _ = find_runs(tmp_path)
    assert [r.name for r in runs["dpo"]] == ["dpo-0", "dpo-1"]
    row = evaluate(runs)[0]
    assert row["n"] == {"prompts": 8, "seeds": [2], "text": "8 × 2"}
    assert row["runs"] == ["dpo-0", "dpo-1"]


def test_the_cli_prints_the_readme_table(tmp_path, capsys):
    write_run(tmp_path, "dpo", "dpo", PAPER_DPO)
    assert main(["trends", "--runs", str(tmp_path), "--markdown"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == (
        "| trend | official logs | ours (runs) | effect | 95% interval | n prompts × seeds "
        "| verdict |"
    )
    assert len(lines) == 2 + len(SIGNATURES)
    assert markdown([]).count("\n") == 1


@pytest.mark.parametrize("make", ["absent", "empty", "broken"])
def test_trends_on_a_bad_folder_is_one_line_and_exit_2(tmp_path, capsys, make):
    root = tmp_path / "runs"
    if make != "absent":
        root.mkdir()
    if make == "broken":
        (root / "r").mkdir()
        (root / "r" / "metrics.csv").write_text("step,examples_seen,probe_type,metric,value\n")
        (root / "r" / "config.json").write_text("{not json")
    assert main(["trends", "--runs", str(root)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("python -m llm_validation: error: --runs")


def test_a_run_whose_config_names_no_method_needs_method(tmp_path, capsys):
    """A user's trl run with a plain Trainer: config.json has no method; named, not dropped."""
    folder = write_run(tmp_path, "mine", "dpo", PAPER_DPO)
    (folder / "config.json").write_text('{"learning_rate": 5e-7}')
    runs, notes = find_runs(tmp_path)
    assert runs == {} and notes == ["mine: config.json names no method; give --method"]
    assert main(["trends", "--runs", str(tmp_path), "--method", "dpo", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["verdict"] for r in rows if r["key"].startswith("dpo_")} == {"holds"}
    assert main(["trends", "--runs", str(tmp_path), "--method", "dop"]) == 2
    assert "unknown method 'dop'" in capsys.readouterr().err


def _dpo_rows(tmp_path, curves, seed, sd=3.0, n=24, steps=(0, 4, 8)):
    root = tmp_path / f"draw{seed}"
    root.mkdir()
    write_run(root, "dpo", "dpo", curves, steps=steps, prompts=(n, sd, np.random.default_rng(seed)))
    runs, _ = find_runs(root)
    return {r["key"]: r for r in evaluate(runs)}


def test_the_paper_dpo_shape_with_prompt_noise_holds_with_intervals(tmp_path):
    """The official logs' shape plus N(0, 3²) per prompt over 24 prompts: every DPO signature
    holds, each with an interval that excludes zero in the claimed direction."""
    rows = _dpo_rows(tmp_path, PAPER_DPO, seed=0)
    for key in [s.key for s in SIGNATURES if s.methods == ("dpo",)]:
        assert rows[key]["verdict"] == "holds", (key, rows[key]["ours"])
        low, high = rows[key]["interval"]
        assert low <= rows[key]["effect"] <= high
        assert rows[key]["n"]["prompts"] == 24
    low, high = rows["dpo_y_star_rises"]["interval"]
    assert 0 < low < 19.0 < high  # the true change −60 → −41


def test_no_effect_is_inconclusive_in_nearly_every_draw(tmp_path):
    """Flat curves (every type −100 at every step) with prompt noise: over 20 draws, 'y* rises'
    (a fixed change) and 'irr_train rises first, then falls' (a peak chosen from the data) each
    hold or are contradicted at most twice (5 % of 20 is 1)."""
    decided = {"dpo_y_star_rises": 0, "dpo_irr_train_rises_first": 0}
    for seed in range(20):
        rows = _dpo_rows(tmp_path, {}, seed=seed, steps=(0, 2, 4, 6, 8))
        for key in decided:
            decided[key] += rows[key]["verdict"] != "inconclusive"
    assert all(count <= 2 for count in decided.values()), decided


def test_a_reversed_effect_is_contradicted(tmp_path):
    """y* falling and y⁺ rising throughout, clearly beyond the prompt noise."""
    reversed_dpo = {**PAPER_DPO, Y_STAR: [-41.0, -50.0, -60.0], "chosen": [-150.0, -140.0, -130.0]}
    rows = _dpo_rows(tmp_path, reversed_dpo, seed=0)
    assert rows["dpo_y_star_rises"]["verdict"] == "contradicted"
    assert rows["dpo_y_star_rises"]["interval"][1] < 0
    assert rows["dpo_chosen_peak_then_below"]["verdict"] == "contradicted"


def test_a_two_step_run_gives_no_holds(tmp_path):
    """Two evaluations (start and end) are one step of a trajectory, not a trend: even large
    changes decide nothing, and no verdict is 'holds'."""
    two = {k: v[::2] for k, v in PAPER_DPO.items()}
    rows = _dpo_rows(tmp_path, two, seed=0, steps=(0, 2))
    assert "holds" not in {r["verdict"] for r in rows.values()}
    assert rows["dpo_y_star_rises"]["ours"] == (
        "2 evaluation(s) in the last phase; this claim needs 3"
    )


def test_a_run_still_going_is_read_through_its_last_complete_evaluation(tmp_path):
    """No summary.json and a torn last metrics line (a kill mid-write): the complete
    evaluations are read and the run is named as in progress."""
    folder = write_run(tmp_path, "dpo", "dpo", PAPER_DPO)
    with (folder / "metrics.csv").open("a") as handle:
        handle.write("12,48,chosen,lo")
    runs, notes = find_runs(tmp_path)
    assert notes == ["dpo: no summary.json (still going?): read through step 8"]
    assert runs["dpo"][0].curves["chosen"].steps.tolist() == [0, 4, 8]
    assert verdicts(tmp_path)["dpo_y_star_rises"] == "holds"


def test_a_run_whose_probes_were_held_out_of_training_is_named(tmp_path):
    """--hold-out probes answer prompts the run never trained on: the paper's y⁺ and y⁻ claims
    are about trained pairs, so trends says which runs read them elsewhere."""
    write_run(tmp_path, "dpo", "dpo", PAPER_DPO, hold_out=16)
    write_run(tmp_path / "other", "dpo", "dpo", PAPER_DPO, hold_out=0)  # as every run records it
    (tmp_path / "dpo" / "summary.json").write_text("{}")
    (tmp_path / "other" / "dpo" / "summary.json").write_text("{}")
    _, held_notes = find_runs(tmp_path / "dpo")
    _, trained_notes = find_runs(tmp_path / "other")
    assert held_notes == [
        "dpo: its probes are 16 prompts held out of training (--hold-out): its y⁺ and y⁻ answer "
        "prompts it never trains on, where the paper's y⁺ and y⁻ claims are about trained pairs"
    ]
    assert trained_notes == []


def test_a_phase_that_starts_between_evaluations_is_read_from_the_last_one_before_it(tmp_path):
    """sft_steps 3 with evaluations at 0, 2, 4, 6: DPO starts from the step-2 evaluation (the
    last at or before step 3), never from step 4's, which DPO already moved."""
    steps = (0, 2, 4, 6)
    ext = {"rejected": [-100.0, -80.0, -70.0, -120.0]}
    base = {"rejected": [-100.0, -95.0, -60.0, -100.0]}
    write_run(tmp_path, "ext", "extend-dpo", ext, steps=steps, sft_steps=3)
    write_run(tmp_path, "base", "sft-dpo", base, steps=steps, sft_steps=3)
    runs, _ = find_runs(tmp_path)
    row = next(r for r in evaluate(runs) if r["key"] == "extension_lifts_rejected")
    assert row["ours"].startswith(
        "y⁻ as DPO starts: −80.0 after SFT on y⁺ and y⁻ (step 3) vs −95.0"
    )
    assert row["verdict"] == "holds"


def test_a_claim_about_every_type_reads_each_at_the_bonferroni_level(tmp_path):
    """'Every other type ends below its start' is m claims at once: each part's interval is the
    bootstrap percentile interval at 1 − 0.05/m, from the same resamples as the verdict."""
    from llm_validation.core.intervals import percentile
    from llm_validation.measure.trends import gather

    write_run(tmp_path, "dpo", "dpo", PAPER_DPO, prompts=(24, 3.0, np.random.default_rng(0)))
    runs, _ = find_runs(tmp_path)
    row = next(r for r in evaluate(runs, seed=0) if r["key"] == "dpo_others_end_below")
    boot = gather([runs["dpo"]], np.random.default_rng(0)).boot()
    level = 1 - 0.05 / len(row["parts"])
    for part in row["parts"]:
        change = boot[f"0:{part['name']}"][:, -1] - boot[f"0:{part['name']}"][:, 0]
        assert part["interval"] == pytest.approx(list(percentile(change, level)))
    assert len(row["parts"]) == 11


def test_until_reads_a_run_as_if_it_had_stopped_there(tmp_path, capsys):
    """Through step 8 the official shape's y⁺ is still above its start: `--until 8` contradicts
    what the whole run holds, and says where it cut; a two-phase run whose DPO starts at step 8
    has no DPO yet and is named, not read."""
    steps = (0, 4, 8, 12)
    dpo = {k: [v[0], v[1], v[1] - 0.5, v[2]] for k, v in PAPER_DPO.items()}
    write_run(tmp_path, "dpo", "dpo", dpo, steps=steps)
    write_run(tmp_path, "ext", "extend-dpo", dpo, steps=steps, sft_steps=8)
    runs, notes = find_runs(tmp_path, until=10)
    assert "dpo: read through step 8 (--until 10)" in notes
    assert "ext: its last phase starts at step 8, not before --until 8; not read" not in notes
    runs, notes = find_runs(tmp_path, until=8)
    assert "ext: its last phase starts at step 8, not before --until 8; not read" in notes
    assert list(runs) == ["dpo"] and runs["dpo"][0].curves["chosen"].end == -147.5
    assert main(["trends", "--runs", str(tmp_path), "--until", "8", "--json"]) == 0
    rows = {r["key"]: r["verdict"] for r in json.loads(capsys.readouterr().out)}
    assert rows["dpo_chosen_peak_then_below"] == "contradicted"
    assert main(["trends", "--runs", str(tmp_path), "--until", "12", "--json"]) == 0
    rows = {r["key"]: r["verdict"] for r in json.loads(capsys.readouterr().out)}
    assert rows["dpo_chosen_peak_then_below"] == "holds"


@pytest.mark.parametrize("until", ["0", "-4", "x"])
def test_an_until_that_is_not_a_step_is_one_line_and_exit_2(tmp_path, capsys, until):
    write_run(tmp_path, "dpo", "dpo", PAPER_DPO)
    assert main(["trends", "--runs", str(tmp_path), "--until", until]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--until" in err


def test_until_cuts_the_per_prompt_values_with_the_curves(tmp_path):
    write_run(tmp_path, "dpo", "dpo", PAPER_DPO, prompts=(5, 1.0, np.random.default_rng(0)))
    (run,) = find_runs(tmp_path, until=7)[0]["dpo"]
    assert run.prompt_steps.tolist() == [0, 4] and run.prompt_values["chosen"].shape == (2, 5)
    assert all(c.steps.tolist() == [0, 4] for c in run.curves.values())
