"""The real-LM presets on SmolLM2-135M (`-m slow`), shortened to 8 of their steps: the paper's
signatures that already appear within them, and SIGKILL mid-step then `--resume` on a preset.

At 8 steps (two evaluations after the start, every 4 steps as the presets do) the full runs
(docs/findings.md, "Real-LM curves") already show: under SFT, y⁺ and y* rising and other prompts' answers
(irr_train) rising, the early window of SFT's hallucination signature; under off-policy DPO, y⁻
falling most and y* rising. The later signatures (DPO's y⁺ peak and fall, SFT's random strings
falling) need the whole run, and are in the trend table of docs/findings.md, not asserted here.
"""

import os
import signal
import subprocess
import sys

import pytest

from llm_validation.cli import main
from llm_validation.measure.trends import evaluate, find_runs
from tests.faults import KILLED_MID_STEP

SHORT = ["--steps", "8", "--no-save-model"]
EARLY = {
    "cpu-sft": ("sft_chosen_rises", "sft_y_star_rises", "sft_irr_train_rises"),
    "cpu-dpo": ("dpo_rejected_falls_most", "dpo_y_star_rises"),
}


def run_preset(name: str, data, out, *extra: str) -> list[str]:
    return ["run", "--preset", name, "--data", str(data), "--out", str(out), *SHORT, *extra]


@pytest.mark.slow
@pytest.mark.parametrize("preset", sorted(EARLY))
def test_a_shortened_preset_shows_its_early_signatures(preset, hh_probes, tmp_path):
    out = tmp_path / preset
    assert main(run_preset(preset, hh_probes, out)) == 0
    runs, _ = find_runs(out)
    rows = {r["key"]: r for r in evaluate(runs)}
    for key in EARLY[preset]:
        print(key, rows[key]["ours"])
        assert rows[key]["verdict"] == "holds", rows[key]


# cpu-squeeze evaluates (and checkpoints) at steps 20, 40, 60 and every 130, trains on 499 pairs
# and tracks 128 prompts: here every 4 steps, on 16 pairs and 16 prompts, so that the kill falls
# two steps after a checkpoint at the same cost.
RESUMED = {
    "cpu-dpo": (),
    "cpu-squeeze": ("--eval-every", "4", "--limit", "16", "--probe-limit", "16"),
}


@pytest.mark.slow
@pytest.mark.parametrize("preset", sorted(RESUMED))
def test_a_preset_killed_mid_step_resumes_to_the_uninterrupted_metrics(preset, hh_probes, tmp_path):
    """A DPO preset (one forward a step, no micro-batches) killed inside step 6, after its
    forward and before its backward, two steps after the step-4 checkpoint; `--resume` finishes
    it with the uninterrupted run's metrics, byte for byte."""
    whole, parted = tmp_path / "whole", tmp_path / "parted"
    extra = RESUMED[preset]
    assert main(run_preset(preset, hh_probes, whole, *extra)) == 0
    child = subprocess.run(
        [sys.executable, "-c", KILLED_MID_STEP, *run_preset(preset, hh_probes, parted, *extra)],
        capture_output=True,
        text=True,
        timeout=1800,
        env={**os.environ, "KILL_AT": "6", "KILL_FORWARD": "1"},
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    assert main([*run_preset(preset, hh_probes, parted, *extra), "--resume"]) == 0
    for name in ("metrics.csv", "prompts.csv"):
        assert (parted / name).read_text() == (whole / name).read_text(), name
