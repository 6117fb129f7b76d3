"""Every script in examples/ runs as written, from a fresh folder, in the default suite; the
trl snippet of README and docs/trl.md is examples/dpo_with_callback.py itself."""

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


DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def trl_snippets() -> dict[str, str]:
    """{file: the first Python block of its "Your own trl run" section} of README and docs."""
    out = {}
    for path in DOCS:
        parts = re.split(r"^#+ Your own trl run", path.read_text(), maxsplit=1, flags=re.M)
        if len(parts) == 2:
            out[path.name] = re.search(r"```python\n(.*?)```", parts[1], re.S).group(1)
    return out


def test_readme_trl_snippet_is_the_dpo_example_verbatim():
    snippets = trl_snippets()
    assert {"README.md", "trl.md"} <= set(snippets)  # the first page and the trl page
    example = (ROOT / "examples" / "dpo_with_callback.py").read_text()
    assert all(snippet == example for snippet in snippets.values())


def test_no_readme_command_needs_the_projects_shared_folder():
    """A fresh clone has no ../shared: README and docs commands name data by `hh-train`, `hub:…`."""
    texts = [path.read_text() for path in DOCS]
    blocks = [b for text in texts for b in re.findall(r"```(?:bash|python)\n(.*?)```", text, re.S)]
    inline = [
        i for text in texts for i in re.findall(r"`((?:python -m|run|logprobs) [^`]*)`", text)
    ]
    assert not [b for b in [*blocks, *inline] if "../shared" in b]
