"""The scaled CUDA check runs end to end and its figures say what they claim (skipped without a
CUDA device)."""

import re

import pytest


def numbers(pattern: str, text: str) -> list[float]:
    return [float(x.replace(",", "")) for x in re.findall(pattern, text)]


@pytest.mark.gpu
def test_gpu_check_runs_sft_and_dpo_on_the_card(capsys):
    from benchmarks.tools.gpu_check import main

    assert main(["--steps", "6", "--batch-size", "8"]) == 0
    out = capsys.readouterr().out
    assert "cpu" not in out.splitlines()[0]  # the card's name, not the dry run's
    (gap,) = numbers(r"max \|gap\| ([0-9.e+-]+)", out)
    assert gap < 1e-3  # batched and naive fp32 log-probs of one model agree to round-off
    scoring, training = numbers(r"([0-9,]+) tokens/s", out)
    assert scoring > 0 and training > 0
    sft = re.search(r"sft: .*chosen (-?[0-9.]+) → (-?[0-9.]+)", out)
    assert float(sft.group(2)) > float(sft.group(1))  # SFT raises the trained response
    r_values = numbers(r"predict .*: r ([0-9.]+)", out)
    assert len(r_values) == 4 and min(r_values) > 0.99  # first-order regime on the card
