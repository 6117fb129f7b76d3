"""`python -m llm_validation align`: the experiment end to end at toy size, and its rerun."""

import json

import pytest

pytest.importorskip("torch")

from llm_validation.cli import main  # noqa: E402

TOY = [
    "--model",
    "tiny-neox",
    "--seeds",
    "0,1",
    "--neg-weights",
    "0.5",
    "--limit",
    "8",
    "--sft-steps",
    "2",
    "--steps",
    "2",
    "--batch-size",
    "2",
    "--eval-prompts",
    "4",
    "--max-new-tokens",
    "4",
    "--device",
    "cpu",
    "--json",
]


def test_align_reports_every_arm_and_a_pooled_win_rate_per_weight(tmp_path, capsys):
    """Two seeds, w = 0.5: arms sft, baseline, extension, each with the reward and diversity
    measures; a win rate pooled over 2 seeds × 4 prompts; a rerun (--resume) trains and samples
    nothing."""
    assert main(["align", *TOY, "--out", str(tmp_path / "a")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert sorted(summary["arms"]) == ["baseline w=0.5", "extension w=0.5", "sft"]
    result = summary["winrate_extension_over_baseline"]["0.5"]
    assert result["n"] == 8 and len(result["per_seed"]) == 2
    assert result["ci_low"] <= result["win_rate"] <= result["ci_high"]
    assert 0 <= summary["arms"]["sft"]["mean_reward"] <= 1
    assert (tmp_path / "a" / "tables.md").read_text().count("\n") == 2 + 3 + 1 + 2 + 1
    stamp = (tmp_path / "a" / "w0.5" / "seed0" / "baseline" / "model" / "config.json").stat()
    assert main(["align", *TOY, "--out", str(tmp_path / "a"), "--resume"]) == 0
    assert json.loads(capsys.readouterr().out) == summary  # same numbers from the folders
    after = (tmp_path / "a" / "w0.5" / "seed0" / "baseline" / "model" / "config.json").stat()
    assert after.st_mtime_ns == stamp.st_mtime_ns  # the model was not trained again


def test_a_prompt_seed_among_the_training_seeds_is_one_line_and_exit_2(tmp_path, capsys):
    code = main(["align", *TOY, "--prompt-seed", "1", "--out", str(tmp_path / "a")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "held-out" in err
