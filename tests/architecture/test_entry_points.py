"""The four entry points share one error path: a bad argument is one line on stderr in the
format `python -m <package>: error: <message>`, exit status 2, and no traceback."""

import subprocess
import sys

import pytest

ENTRY_POINTS = {  # package → an argument list with a mistake a user could make
    "simulator": ["run", "dpo", "--steps", "many"],
    "llm_validation": ["run", "--method", "dpo", "--lr", "fast"],
    "figures": ["--format", "gif"],
    "benchmarks": ["--no-such-flag"],
}


@pytest.mark.parametrize("package", sorted(ENTRY_POINTS))
def test_a_bad_argument_is_one_line_with_status_2(package):
    result = subprocess.run(
        [sys.executable, "-m", package, *ENTRY_POINTS[package]],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2
    assert len(lines) == 1 and lines[0].startswith(f"python -m {package}: error: ")
    assert "Traceback" not in result.stderr and result.stdout == ""
