"""The paper's multi-epoch signatures (`runs.trends`), decided on run folders written by hand."""

from __future__ import annotations

import json

import pytest

from common.probes import BYSTANDERS, PROBE_TYPES, Y_STAR
from common.runs import write_metrics
from llm_validation.cli import main
from llm_validation.runs.trends import SIGNATURES, evaluate, find_runs, markdown


def write_run(root, name, method, curves, steps=(0, 4, 8), finished=True, **config):
    """A run folder whose `logp` of each type follows curves[type] (default: a flat −100);
    `finished` writes summary.json, as a run does when it ends."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"method": method, "steps": 8, **config}))
    if finished:
        (folder / "summary.json").write_text("{}")
    rows = []
    for i, step in enumerate(steps):
        for kind in (*PROBE_TYPES, Y_STAR):
            values = curves.get(kind, [-100.0] * len(steps))
            rows.append((step, 4 * step, kind, "logp", values[i]))
        rows.append((step, 4 * step, "train", "loss", 0.5))
    write_metrics(folder / "metrics.csv", rows)
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


def test_chosen_rising_throughout_is_a_finding_with_its_numbers(tmp_path):
    write_run(tmp_path, "dpo", "dpo", {**PAPER_DPO, "chosen": [-134.8, -120.0, -112.8]})
    runs, _ = find_runs(tmp_path)
    row = next(r for r in evaluate(runs) if r["key"] == "dpo_chosen_peak_then_below")
    assert row["verdict"] == "finding"
    assert "−134.8 → peak −112.8 (step 8) → −112.8" in row["ours"]


def test_a_bystander_that_does_not_fall_is_named(tmp_path):
    write_run(tmp_path, "dpo", "dpo", {**PAPER_DPO, "chosen_gptformat": [-100.0, -99.0, -99.5]})
    runs, _ = find_runs(tmp_path)
    row = next(r for r in evaluate(runs) if r["key"] == "dpo_others_end_below")
    assert row["verdict"] == "finding" and row["ours"].endswith("not below: chosen_gptformat")


def test_rejected_falls_most_names_the_types_that_fall_more(tmp_path):
    write_run(tmp_path, "dpo", "dpo", {**PAPER_DPO, "random_permute": [-300.0, -350.0, -400.0]})
    runs, _ = find_runs(tmp_path)
    row = next(r for r in evaluate(runs) if r["key"] == "dpo_rejected_falls_most")
    assert row["verdict"] == "finding"
    assert "rank 2 of 13 (falling more: random_permute −100.0)" in row["ours"]


def test_irr_train_rising_only_at_the_end_is_not_rising_first(tmp_path):
    write_run(tmp_path, "dpo", "dpo", {**PAPER_DPO, "irr_train": [-137.0, -140.0, -130.0]})
    assert verdicts(tmp_path)["dpo_irr_train_rises_first"] == "finding"


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
    assert row["verdict"] == "finding"
    assert row["ours"] == "y⁺ after 4 DPO steps: −98.0 (extension) vs −97.0 (baseline)"


def test_the_extensions_dpo_phase_is_not_read_as_its_sft_phase(tmp_path):
    """y⁻ higher at the boundary but lower than the baseline there: a finding."""
    write_run(tmp_path, "ext", "extend-dpo", {"rejected": [-100.0, -99.0, -80.0]}, sft_steps=4)
    write_run(tmp_path, "base", "sft-dpo", {"rejected": [-100.0, -90.0, -120.0]}, sft_steps=4)
    assert verdicts(tmp_path)["extension_lifts_rejected"] == "finding"


def test_on_policy_is_compared_with_off_policy_at_their_last_common_step(tmp_path):
    """The on-policy run stops at step 4; off-policy DPO's bystanders are −1 there (−30 later), so
    an on-policy fall of −2 by step 4 falls more: a finding, though −2 > −30."""
    write_run(tmp_path, "off", "dpo", PAPER_DPO)
    onpolicy = {k: [-100.0, -102.0] for k in BYSTANDERS}
    write_run(tmp_path, "on", "onpolicy-dpo", onpolicy, steps=(0, 4))
    runs, _ = find_runs(tmp_path)
    row = next(r for r in evaluate(runs) if r["key"] == "onpolicy_spares_untrained")
    assert row["verdict"] == "finding" and "by step 4" in row["ours"]


def test_a_type_the_run_did_not_track_is_not_run_not_a_finding(tmp_path):
    folder = write_run(tmp_path, "dpo", "dpo", PAPER_DPO)
    text = (folder / "metrics.csv").read_text().splitlines()
    (folder / "metrics.csv").write_text("\n".join(ln for ln in text if ",irr_train," not in ln))
    runs, _ = find_runs(tmp_path)
    row = next(r for r in evaluate(runs) if r["key"] == "dpo_irr_train_rises_first")
    assert row["verdict"] == "not run" and row["ours"] == "'irr_train' not tracked"


def test_a_second_run_of_a_method_is_named_not_silently_dropped(tmp_path):
    write_run(tmp_path, "a-dpo", "dpo", PAPER_DPO)
    write_run(tmp_path, "b-dpo", "dpo", PAPER_DPO)
    runs, notes = find_runs(tmp_path)
    assert runs["dpo"].name == "a-dpo"
    assert notes == ["b-dpo: a second dpo run; using a-dpo (first by name)"]


def test_the_cli_prints_the_readme_table(tmp_path, capsys):
    write_run(tmp_path, "dpo", "dpo", PAPER_DPO)
    assert main(["trends", "--runs", str(tmp_path), "--markdown"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "| trend | official logs | ours (runs) | verdict |"
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


def test_a_run_still_going_is_read_through_its_last_complete_evaluation(tmp_path):
    """No summary.json yet and a torn last evaluation (killed while appending): the verdicts
    read the evaluations completed so far, and the run's name says it is in progress."""
    folder = write_run(tmp_path, "dpo", "dpo", PAPER_DPO, steps=(0, 4, 8), finished=False)
    text = (folder / "metrics.csv").read_text()
    torn = text[: text.index("8,32,chosen_gptsemantic")] + "8,32,chosen_gptsem"
    (folder / "metrics.csv").write_text(torn)
    runs, _ = find_runs(tmp_path)
    assert runs["dpo"].name == "dpo, in progress: through step 4 of 8"
    assert runs["dpo"].curves["chosen"].steps.tolist() == [0, 4]
    rows = {r["key"]: r for r in evaluate(runs)}
    assert rows["dpo_chosen_peak_then_below"]["verdict"] == "finding"  # −150 → −147: no fall yet
    assert "in progress" in markdown(list(rows.values()))


def test_a_finished_evaluation_of_a_run_still_going_is_read(tmp_path):
    write_run(tmp_path, "dpo", "dpo", PAPER_DPO, finished=False)
    runs, _ = find_runs(tmp_path)
    assert runs["dpo"].curves["chosen"].steps.tolist() == [0, 4, 8]
    assert {r["verdict"] for r in evaluate(runs) if r["key"].startswith("dpo_")} == {"holds"}


def test_a_two_phase_run_still_in_its_sft_phase_is_named_not_read(tmp_path):
    write_run(tmp_path, "ext", "extend-dpo", {}, steps=(0, 4), finished=False, sft_steps=8)
    runs, notes = find_runs(tmp_path)
    assert runs == {}
    assert notes == [
        "ext, in progress: through step 4 of 16: no evaluation yet after its last phase began "
        "(step 8)"
    ]
