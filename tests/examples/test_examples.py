"""Every script in examples/ runs as written, from a fresh folder, in the default suite; the
README's trl snippet is examples/dpo_with_callback.py itself."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from common.runs import SUMMARY_KEYS

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
NEEDS = {"dpo_with_callback.py": "trl", "sft_conversational.py": "trl"}


def run_example(script: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    return subprocess.run(
        [sys.executable, str(script)], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_there_are_three_examples():
    assert [p.name for p in EXAMPLES] == [
        "dpo_with_callback.py",
        "native_trainer.py",
        "sft_conversational.py",
    ]


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs_as_written_in_a_fresh_folder(script, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    if script.name in NEEDS:
        pytest.importorskip(NEEDS[script.name])
    done = run_example(script, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = [p for p in (tmp_path / "runs").iterdir() if (p / "metrics.csv").is_file()]
    assert len(runs) == 1
    summary = json.loads((runs[0] / "summary.json").read_text())
    assert set(summary) == set(SUMMARY_KEYS)  # the run format, whoever trained
    if script.name == "dpo_with_callback.py":  # the trainer's logs: the step-0 baseline, the last
        assert "steps [0, 2, 4, 6]: log π(y⁺|x)" in done.stdout


def readme_trl_snippet() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Your own trl run", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_trl_snippet_is_the_dpo_example_verbatim():
    assert readme_trl_snippet() == (ROOT / "examples" / "dpo_with_callback.py").read_text()


def test_no_readme_command_needs_the_projects_shared_folder():
    """A fresh clone has no ../shared: README commands name data by `hh-train`, `hub:…`."""
    blocks = re.findall(r"```(?:bash|python)\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    inline = re.findall(r"`((?:python -m|run|logprobs) [^`]*)`", (ROOT / "README.md").read_text())
    assert not [b for b in [*blocks, *inline] if "../shared" in b]
