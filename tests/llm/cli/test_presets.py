"""Presets: every value is a RunConfig field with the paper's setting quoted beside it, the
preset's values become the defaults of `run`, and flags given on the command line win. Each
preset's code path runs on tiny-neox in seconds (the real runs are `-m slow` or by hand)."""

import json
from dataclasses import fields

import pytest

from llm_validation.cli import main
from llm_validation.config import RunConfig
from llm_validation.presets import PRESETS

SMALL = [
    "--model",
    "tiny-neox",
    "--data",
    "synthetic",
    "--limit",
    "4",
    "--probe-limit",
    "2",
    "--steps",
    "2",
    "--eval-every",
    "1",
    "--max-length",
    "96",
    "--max-prompt-length",
    "32",
    "--sft-steps",
    "1",
    "--no-checkpoint",
]


def test_every_preset_sets_real_fields_and_quotes_the_paper_for_each():
    names = {f.name for f in fields(RunConfig)}
    for preset in PRESETS.values():
        assert set(preset.settings) <= names, preset.name
        assert all(note.strip() for _, note in preset.settings.values()), preset.name
    assert set(PRESETS) == {
        "paper-sft",
        "paper-dpo",
        "paper-extend-dpo",
        "paper-sft-dpo",
        "cpu-sft",
        "cpu-dpo",
        "cpu-extend-dpo",
        "cpu-sft-dpo",
        "cpu-onpolicy-dpo",
        "cpu-squeeze",
        "gpu-dpo",
        "gpu-sft",
        "gpu-sft-dpo",
        "gpu-extend-dpo",
        "gpu-onpolicy-dpo",
    }


def test_presets_lists_each_with_one_line(capsys):
    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines] == list(PRESETS)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_each_preset_runs_on_tiny_neox_with_its_settings_and_the_overrides(name, tmp_path):
    out = tmp_path / name
    assert main(["run", "--preset", name, *SMALL, "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    preset = PRESETS[name].values()
    overridden = {
        "model",
        "data",
        "limit",
        "probe_limit",
        "steps",
        "eval_every",
        "max_length",
        "max_prompt_length",
        "checkpoint",
        "sft_steps",
    }
    for key, value in preset.items():
        if key not in overridden:
            assert config[key] == value, key  # the preset's value, where no flag overrode it
    assert config["model"] == "tiny-neox" and config["steps"] == 2  # the flags won
    assert (out / "metrics.csv").is_file()


def test_a_preset_run_goes_to_runs_slash_its_name_and_its_switches_can_be_turned_off(
    tmp_path, monkeypatch
):
    """cpu-sft sets save_model; `--no-save-model` turns it off; the folder is runs/cpu-sft."""
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--preset", "cpu-sft", *SMALL, "--no-save-model"]) == 0
    config = json.loads((tmp_path / "runs" / "cpu-sft" / "config.json").read_text())
    assert config["preset"] == "cpu-sft" and config["save_model"] is False
    assert not (tmp_path / "runs" / "cpu-sft" / "model").exists()


def test_the_gpu_presets_script_runs_every_gpu_preset_and_writes_the_trend_table(tmp_path):
    """scripts/gpu_presets.sh with the tiny overrides: one run folder per gpu-* preset, each made
    with its preset, and trends.md with a row per signature, none left `not run`."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[3] / "scripts" / "gpu_presets.sh"
    runs = tmp_path / "gpu"
    done = subprocess.run(
        ["bash", str(script), str(runs), *SMALL],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"},
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    gpu = sorted(n for n in PRESETS if n.startswith("gpu-"))
    assert sorted(p.name for p in runs.iterdir() if p.is_dir()) == gpu
    for name in gpu:
        assert json.loads((runs / name / "config.json").read_text())["preset"] == name
    table = (runs / "trends.md").read_text()
    assert table.startswith("| trend |") and "not run" not in table
