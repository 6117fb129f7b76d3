"""The results table (`runs.results`): each cell computed from the simulator's outcomes and the
run folders' `trends` verdicts, written only between README's markers."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np

from llm_validation.cli import main
from llm_validation.measure.results import (
    CLAIMS,
    gather_runs,
    lm_cell,
    simulate,
    simulator_cell,
    table,
)
from llm_validation.measure.trends import SIGNATURES
from simulator import PROBE_TYPES
from tests.llm.measure.test_trends import PAPER_DPO, write_run

ROOT = Path(__file__).resolve().parents[3]


def trend(start: float, peak: float, end: float) -> dict[str, float]:
    return {"start": start, "max": max(start, peak, end), "min": min(start, end), "end": end}


def outcome(squeeze: dict | None = None, **curves) -> dict:
    """Every probe type falls 10 nats unless given; `squeeze`: the final squeeze measures."""
    falls = {k: trend(-50.0, -50.0, -60.0) for k in PROBE_TYPES}
    return {**falls, **curves, "squeeze": squeeze or {}}


def squeeze(bystanders: float) -> dict[str, float]:
    return {
        "bystander_change": bystanders,
        "y_star_gain_off_argmax": 0.6,
        "mass_outside_argmax_change": -0.015,
    }


# The paper's picture in every experiment the claims read, with the simulator's seed-0 numbers.
PAPER = {
    "sft": outcome(
        chosen=trend(-48.4, 0, -4.5),
        y_star=trend(-6.6, 0, -4.4),
        irr_train=trend(-51.5, -17.2, -17.2),
        random_nonhum=trend(-203.5, -203.5, -205.2),
        random_permute=trend(-132.4, -132.4, -133.0),
    ),
    "dpo": outcome(
        squeeze(-50.4),
        chosen=trend(-48.4, -44.7, -69.4),
        rejected=trend(-49.4, -49.4, -152.2),
        irr_train=trend(-51.5, -49.2, -84.6),
        y_star=trend(-6.58, -6.2, -6.22),
    ),
    "extend-dpo": outcome(
        squeeze(-9.0), rejected=trend(-32.8, 0, -70), chosen=trend(-30, 0, -31.5)
    ),
    "sft-dpo": outcome(squeeze(-10.2), rejected=trend(-34.9, 0, -80), chosen=trend(-29, 0, -32.0)),
    "onpolicy-dpo": outcome(squeeze(-6.8)),
    "dpo-sgd": outcome(squeeze(-9.1)),
}


def rows_of(md: str) -> dict[str, list[str]]:
    """{claim: [simulator, SmolLM2 CPU, GPU reference, test]} of a results table."""
    rows = [r for r in md.splitlines() if r.startswith("| ") and "---" not in r][1:]
    return {r.split(" | ")[0][2:]: r.strip("| ").split(" | ")[1:] for r in rows}


def test_the_papers_picture_holds_every_simulator_check_and_no_run_is_not_run():
    md = table([PAPER], {}, {})
    rows = rows_of(md)
    assert list(rows) == [c.text for c in CLAIMS]
    assert all(cells[0].startswith("holds (1/1 seeds): ") for cells in rows.values()), rows
    dpo = rows["DPO: y⁺ rises to a peak, then ends below its start"]
    assert dpo[:3] == ["holds (1/1 seeds): −48.4 → −44.7 → −69.4", "not run", "not run"]
    assert rows["Squeezing: DPO moves mass along y⁺ onto the argmax"][1:3] == ["no check"] * 2
    assert md.rstrip().endswith("SmolLM2 CPU runs read: none. GPU reference runs read: none.")


def test_a_claim_failing_at_one_seed_is_mixed_and_at_every_seed_contradicted():
    rising = {**PAPER, "dpo": {**PAPER["dpo"], "chosen": trend(-48.4, -40.0, -40.0)}}
    claim = next(c for c in CLAIMS if c.signature == "dpo_chosen_peak_then_below")
    assert simulator_cell(claim, [PAPER, rising]) == "**mixed** (1/2 seeds): −48.4 → −44.7 → −69.4"
    assert simulator_cell(claim, [rising]) == "**contradicted** (0/1 seeds): −48.4 → −40.0 → −40.0"


def test_the_cpu_column_follows_the_runs_verdict(tmp_path):
    """The same claim flips from holds to contradicted when y⁺ in the run rises throughout;
    only that row changes."""
    write_run(tmp_path / "paper", "dpo", "dpo", PAPER_DPO)
    rising = {**PAPER_DPO, "chosen": [-134.8, -120.0, -112.8]}
    write_run(tmp_path / "rising", "dpo", "dpo", rising)
    paper = rows_of(table([PAPER], gather_runs([str(tmp_path / "paper")]), {}))
    other = rows_of(table([PAPER], gather_runs([str(tmp_path / "rising")]), {}))
    claim = "DPO: y⁺ rises to a peak, then ends below its start"
    # the peak −147 over the start −150, the end −156 below it; the other run ends 22 nats above
    assert paper[claim][1] == "peak − start +3.0; end − start −6.0 (no interval) holds"
    assert other[claim][1] == "peak − start +22.0; end − start +22.0 (no interval) **contradicted**"
    changed = [c for c in paper if paper[c] != other[c]]
    assert changed == [claim]
    assert paper["SFT: y⁺ rises"][1] == "not run"  # no sft run among the folders


def test_a_run_with_prompts_gets_its_interval():
    row = {"effect": 19.04, "interval": [11.1, 27.0], "verdict": "contradicted"}
    assert lm_cell(row) == "+19.0 [+11.1, +27.0] **contradicted**"
    small = {"effect": 2.8, "interval": [0.6, 5.3], "verdict": "holds"}
    assert lm_cell(small) == "+2.8 [+0.6, +5.3] holds"  # one precision for the three
    assert lm_cell({**small, "effect": 0.4, "interval": [0.1, 0.7]}) == "+0.40 [+0.10, +0.70] holds"
    assert lm_cell({"effect": -0.84, "interval": None, "verdict": "inconclusive"}) == (
        "−0.84 (no interval) **inconclusive**"
    )
    assert lm_cell({"effect": None, "interval": None, "verdict": "not run"}) == "not run"
    assert lm_cell(None) == "no check"


def test_a_rise_then_fall_claim_shows_both_effects_with_their_intervals():
    parts = [
        {"name": "peak − start", "effect": 14.3, "interval": [5.8, 22.9]},
        {"name": "end − start", "effect": -15.9, "interval": [-28.3, -2.6]},
    ]
    row = {"effect": 14.3, "interval": [5.8, 22.9], "verdict": "holds", "parts": parts}
    assert lm_cell(row) == "peak − start +14.3 [+5.8, +22.9]; end − start −15.9 [−28.3, −2.6] holds"


def test_two_run_folders_make_one_cpu_column(tmp_path):
    write_run(tmp_path / "a", "dpo", "dpo", PAPER_DPO)
    rng = np.random.default_rng(0)
    rises = {"chosen": [-135.0, -100.0, -60.0]}
    write_run(tmp_path / "b", "sft", "sft", rises, prompts=(16, 1.0, rng))
    runs = gather_runs([str(tmp_path / "a"), str(tmp_path / "b")])
    rows = rows_of(table([PAPER], runs, {}))
    assert rows["DPO: y* rises"][1].endswith(" holds")
    assert re.fullmatch(r"\+7\d\.\d \[\+7\d\.\d, \+7\d\.\d\] holds", rows["SFT: y⁺ rises"][1])


def test_a_method_in_two_folders_is_read_from_the_first_named(tmp_path):
    """`--cpu-runs runs/cpu-squeeze runs/` reads the squeeze run's DPO, not the other folder's."""
    write_run(tmp_path / "first", "dpo", "dpo", PAPER_DPO)
    write_run(tmp_path / "second", "dpo", "dpo", {**PAPER_DPO, "chosen": [-134.8, -120.0, -112.8]})
    claim = "DPO: y⁺ rises to a peak, then ends below its start"
    for order, expected in ((("first", "second"), " holds"), (("second", "first"), "dicted**")):
        runs = gather_runs([str(tmp_path / name) for name in order])
        assert [r.name for r in runs["dpo"]] == ["dpo"]
        assert rows_of(table([PAPER], runs, {}))[claim][1].endswith(expected), order


def test_write_replaces_only_the_block_and_a_missing_marker_is_one_line(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n")
    assert main(["results", "--write", str(readme)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs one <!-- results:begin -->" in err[0]
    assert readme.read_text() == "# Title\n"
    assert main(["results", "--cpu-runs", str(tmp_path / "nowhere")]) == 2  # before the simulator
    assert "no such folder" in capsys.readouterr().err


def test_every_claim_names_a_trends_signature_and_a_test_that_exists():
    keys = {s.key for s in SIGNATURES}
    assert {c.signature for c in CLAIMS} - {None} <= keys
    for claim in CLAIMS:
        path, name = claim.test.split("::")
        tree = ast.parse((ROOT / path).read_text())
        assert name in {f.name for f in tree.body if isinstance(f, ast.FunctionDef)}, claim.test


def test_the_simulator_is_run_as_its_cli_runs_it():
    """`simulate` at seed 0 gives `python -m simulator run sft --seed 0`'s numbers."""
    claims = [c for c in CLAIMS if c.experiments == ("sft",)]
    cells = [simulator_cell(c, simulate([0], ("sft",))) for c in claims]
    assert cells[0] == "holds (1/1 seeds): +43.9"  # y⁺: simulator docs, `sft` at seed 0
    assert cells[-1] == "**contradicted** (0/1 seeds): +3.3"  # random_permute rises (+3.29)


def test_seeds_must_be_at_least_one(capsys):
    assert main(["results", "--simulator-seeds", "0"]) == 2
    assert "--simulator-seeds" in capsys.readouterr().err
