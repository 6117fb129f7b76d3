"""The scaled CUDA check runs end to end (skipped without a CUDA device)."""

import pytest


@pytest.mark.gpu
def test_gpu_check_runs_sft_and_dpo_on_the_card(capsys):
    from llm_validation.runs.gpu_check import main

    assert main(["--steps", "6", "--batch-size", "8"]) == 0
    out = capsys.readouterr().out
    assert "card:" in out and "tokens/s" in out and "dpo:" in out
