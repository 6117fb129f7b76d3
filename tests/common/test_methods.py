"""The method registry (`common.methods`) is the one definition of a method's phases: where each
phase starts, which readers (trends, figures, --resume) see, and how a run folder without
recorded phases is read through it."""

import json
from pathlib import Path

import pytest

from common import methods
from common.methods import METHODS, PhaseSpec, plan, single_phase_method
from common.runs import last_phase_start, resume_changes, run_phases, write_metrics

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "h200-smollm2"


def test_steps_count_on_across_phases_and_sft_steps_defaults_to_steps():
    """extend-dpo (Sec. 4.3): SFT on y⁺ and y⁻ for sft_steps, then DPO for steps from there."""
    sft, dpo = plan("extend-dpo", 8, sft_steps=3)
    assert (sft.loss, sft.data, sft.first_step, sft.steps) == ("sft", "both", 0, 3)
    assert (dpo.loss, dpo.data, dpo.first_step, dpo.steps) == ("dpo", "pairs", 3, 8)
    assert [p.first_step for p in plan("sft-dpo", 8)] == [0, 8]  # sft_steps unset: steps
    assert [p.first_step for p in plan("sft-dpo", 8, sft_steps=0)] == [0, 0]  # 0 is a value
    (onpolicy,) = plan("onpolicy-dpo", 5, sft_steps=2)  # one phase: sft_steps unused (Sec. 4.4)
    assert (onpolicy.data, onpolicy.steps, onpolicy.trainer) == ("onpolicy", 5, "OnlineDPOTrainer")


def test_every_phase_names_a_known_data_kind_step_count_and_trl_classes():
    for name, specs in METHODS.items():
        for spec in specs:
            assert spec.data in methods.DATA_KINDS, name
            assert spec.count in methods.STEP_COUNTS, name
            assert spec.trainer.endswith("Trainer") and spec.trainer_config.endswith("Config")
            assert spec.trainer[: -len("Trainer")] == spec.trainer_config[: -len("Config")]


def test_a_trl_config_class_names_a_method_only_when_one_single_phase_method_uses_it():
    assert single_phase_method("SFTConfig") == "sft"
    assert single_phase_method("OnlineDPOConfig") == "onpolicy-dpo"
    assert single_phase_method("DPOConfig") is None  # dpo, ipo, slic, rpo: loss_type decides
    assert single_phase_method("TrainingArguments") is None


def test_a_run_folder_without_recorded_phases_is_read_through_the_registry(tmp_path):
    """An older run (summary.json without `phases`) and a run still going (no summary.json) are
    placed as their config.json's method plans them; recorded phases win over the plan."""
    config = {"method": "extend-dpo", "steps": 8, "sft_steps": 3}
    (tmp_path / "config.json").write_text(json.dumps(config))
    planned = [
        {"loss": "sft", "data": "both", "first_step": 0, "steps": 3},
        {"loss": "dpo", "data": "pairs", "first_step": 3, "steps": 8},
    ]
    assert run_phases(tmp_path) == planned  # no summary.json
    (tmp_path / "summary.json").write_text(json.dumps({"steps": 11}))
    assert run_phases(tmp_path) == planned  # a summary.json from before runs recorded phases
    assert last_phase_start(run_phases(tmp_path)) == 3
    recorded = [{"loss": "dpo", "data": "pairs", "first_step": 0, "steps": 11}]
    (tmp_path / "summary.json").write_text(json.dumps({"steps": 11, "phases": recorded}))
    assert run_phases(tmp_path) == recorded


def test_a_method_the_registry_does_not_know_has_one_phase_from_step_0(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"method": None, "steps": 8}))
    assert run_phases(tmp_path) == [] and last_phase_start(run_phases(tmp_path)) == 0


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="../shared/reference is absent")
def test_the_reference_runs_are_placed_by_their_config_through_the_registry():
    """The H200 reference runs record no phases: extend-dpo and sft-dpo (sft_steps 500) start
    DPO at step 500, dpo at 0."""
    runs = [d for d in sorted(REFERENCE.iterdir()) if d.is_dir()]
    starts = {d.name: last_phase_start(run_phases(d)) for d in runs}
    assert starts == {"dpo-5e-6": 0, "dpo-5e-7": 0, "extdpo-5e-7": 500, "sftdpo-5e-7": 500}


EXTEND_IPO = (
    PhaseSpec("sft", "both", "sft_steps", "SFTTrainer", "SFTConfig"),
    PhaseSpec("ipo", "pairs", "steps", "DPOTrainer", "DPOConfig"),
)


@pytest.fixture
def extend_ipo(monkeypatch, tmp_path):
    """A new two-phase method added to the registry alone, and a run folder of it (no recorded
    phases: the readers must plan them) whose IPO phase starts at step 3."""
    monkeypatch.setitem(METHODS, "extend-ipo", EXTEND_IPO)
    folder = tmp_path / "extend-ipo"
    folder.mkdir()
    config = {"method": "extend-ipo", "steps": 8, "sft_steps": 3}
    (folder / "config.json").write_text(json.dumps(config))
    rows = [(s, 4 * s, "chosen", "logp", -100.0 - s) for s in (0, 2, 4, 11)]
    write_metrics(folder / "metrics.csv", rows)
    return folder


def test_a_new_two_phase_method_is_placed_by_trends_without_another_edit(extend_ipo):
    trends = pytest.importorskip("llm_validation.measure.trends")
    assert trends.read_run(extend_ipo).last_phase_start == 3


def test_a_new_two_phase_method_is_placed_by_the_figures_without_another_edit(extend_ipo):
    pytest.importorskip("matplotlib")
    from figures.runs import curves as run_curves

    assert run_curves.read(extend_ipo).last_phase_start == 3


def test_a_new_two_phase_method_resumes_with_more_steps_only_while_its_last_phase_stays(
    extend_ipo,
):
    """--resume may raise steps when the last phase keeps its start (sft_steps set), not when
    the start moves with steps (sft_steps unset)."""
    before = {"method": "extend-ipo", "steps": 8, "sft_steps": 3}
    assert resume_changes(before, {**before, "steps": 12}) == []
    unset = {"method": "extend-ipo", "steps": 8, "sft_steps": None}
    assert resume_changes(unset, {**unset, "steps": 12}) == ["steps"]
