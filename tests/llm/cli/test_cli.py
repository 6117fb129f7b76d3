"""The CLI: one-line errors with exit status 2, `logprobs --json`, `run` output, shared flags."""

import json
import subprocess
import sys
from dataclasses import fields

import pytest
import torch

from llm_validation.cli import COMMANDS, main
from llm_validation.sources.synthetic import generate


def _error_line(capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        status = main(argv)
        raise SystemExit(status)
    err = capsys.readouterr().err.strip()
    return exit_info.value.code, err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["logprobs", "--model", "tiny-neox", "--probes", "missing.jsonl"], "data file not found"),
        (["run", "--method", "ppo", "--model", "tiny-neox"], "unknown method 'ppo'"),
        (["run", "--model", "tiny-neox", "--steps", "many"], "invalid int value"),
        (["run", "--model", "tiny-neox", "--device", "gpu0"], "unknown device 'gpu0'"),
        (["predict", "--model", "tiny-neox", "--device", "nonsense"], "unknown device 'nonsense'"),
    ],
)
def test_bad_input_gives_one_line_and_status_2(capsys, argv, message):
    code, err = _error_line(capsys, argv)
    assert code == 2 and message in err and len(err.splitlines()) == 1


def test_a_missing_model_path_is_a_one_line_error(capsys, tmp_path):
    probes = tmp_path / "p.jsonl"
    probes.write_text(json.dumps({"prompt": "p", "chosen": " a"}) + "\n")
    code, err = _error_line(
        capsys, ["logprobs", "--model", "./no/such/model", "--probes", str(probes)]
    )
    last = err.splitlines()[-1]  # after the data summary: the model loads once the data is valid
    assert code == 2 and "model path not found" in last and err.count("error:") == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_an_absent_cuda_device_is_a_one_line_error(capsys):
    code, err = _error_line(capsys, ["influence", "--model", "tiny-neox", "--device", "cuda"])
    assert code == 2 and "not available here" in err and len(err.splitlines()) == 1


def test_malformed_jsonl_under_strict_exits_2_without_traceback(tmp_path):
    """Run as a user would: a subprocess, so a traceback would show on stderr."""
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "p", "chosen": " a"}\n{oops\n')
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "llm_validation",
            "logprobs",
            "--model",
            "tiny-neox",
            "--probes",
            str(path),
            "--strict",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(f"python -m llm_validation: error: {path}:2: malformed JSON")
    )
    assert "Traceback" not in result.stderr


def test_logprobs_json_maps_every_probe_type_and_y_star_to_a_mean(tmp_path, capsys):
    path = tmp_path / "probes.jsonl"
    path.write_text(
        "".join(json.dumps({"prompt": ex.prompt, **ex.responses}) + "\n" for ex in generate(3))
    )
    assert main(["logprobs", "--model", "tiny-neox", "--probes", str(path), "--json"]) == 0
    means = json.loads(capsys.readouterr().out)
    assert set(means) == {*generate(1)[0].responses, "y_star"}
    assert means["y_star"] >= means["chosen"]


def test_run_dpo_writes_chosen_rejected_and_y_star_rows_and_config(tmp_path, capsys):
    """The acceptance command on tiny-neox, shortened to 4 steps."""
    out = tmp_path / "run"
    argv = [
        "run",
        "--method",
        "dpo",
        "--model",
        "tiny-neox",
        "--data",
        "synthetic",
        "--steps",
        "4",
        "--eval-every",
        "2",
        "--limit",
        "8",
        "--probe-limit",
        "4",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    csv = (out / "metrics.csv").read_text()
    assert all(f",{kind},logp," in csv for kind in ("chosen", "rejected", "y_star"))
    assert json.loads((out / "config.json").read_text())["steps"] == 4
    assert (out / "curves.png").stat().st_size > 0  # the CLI draws from metrics.csv
    assert "chosen" in capsys.readouterr().out


def test_a_flag_shared_by_commands_has_one_default_and_one_help_text():
    """--model, --data, --strict, --max-length, … mean the same in every command: wherever two
    commands' configs have a field of the same name, the help text is the same object's text.
    (Defaults may differ on purpose: predict/influence default to tiny-neox.)"""
    seen: dict[str, tuple[str, str]] = {}
    shared = 0
    for name, command in COMMANDS.items():
        for f in fields(command.config):
            if f.name in seen:
                shared += 1
                first, help_text = seen[f.name]
                if f.name not in {
                    "out",
                    "seed",
                    "limit",
                    "lr",
                    "json",
                    "probes",
                    "optimizer",
                    "method",  # run: the method to train; trends: that of a finished run
                }:  # command-specific text
                    assert f.metadata["help"] == help_text, (f.name, first, name)
            else:
                seen[f.name] = (name, f.metadata["help"])
    assert shared >= 20  # model, data, strict, device, lengths … across four commands
