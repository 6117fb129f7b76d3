"""`python -m benchmarks [--quick] [--docs]`: run every speed and memory target.

Writes benchmarks/results/benchmarks.json (pytest-benchmark's JSON, each row's target in
`extra_info`) and benchmarks/results/benchmarks.md (figure, target, measured, pass), prints the
table, and exits non-zero when a target is missed. `--docs` also replaces the performance
table in docs/performance.md between its `perf-table` markers.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from common.cliargs import add_config_args, config_from_args, option
from common.errors import OneLineParser, error_line, run_cli
from common.markdown import write_block

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DOCS = ROOT / "docs" / "performance.md"
BLOCK = "perf-table"  # docs/performance.md's <!-- perf-table:begin --> … <!-- perf-table:end -->


def machine() -> str:
    """One line describing where the numbers were taken."""
    import os

    import numpy as np

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}"
    )


def table(report: dict, quick: bool) -> str:
    rows = [b["extra_info"] for b in report["benchmarks"] if "figure" in b.get("extra_info", {})]
    lines = [
        f"Measured with `python -m benchmarks{' --quick' if quick else ''}` on {machine()}.",
        "",
        "| figure | target | measured | met |",
        "|---|---|---|---|",
    ]
    for r in rows:
        value = f"{r['measured']:.3g} {r['unit']}".strip()
        lines.append(
            f"| {r['figure']} | {r['target']} | {value} | {'yes' if r['passed'] else '**no**'} |"
        )
    return "\n".join(lines) + "\n"


PROG = "python -m benchmarks"


def main(argv: list[str] | None = None) -> int:
    """Parse (a bad flag is one line on stderr, exit status 2), then run the benchmarks."""
    return run_cli(PROG, lambda: run(argv))


@dataclass(frozen=True)
class BenchConfig:
    quick: bool = option(False, "reduced sizes, under 2 minutes")
    docs: bool = option(False, "update the performance table of docs/performance.md")
    k: str | None = option(
        None, "only benchmarks matching this pytest expression", type=str, flag="-k"
    )


def run(argv: list[str] | None) -> int:
    parser = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    add_config_args(parser, BenchConfig)
    args = config_from_args(BenchConfig, parser.parse_args(argv))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "benchmarks.json"
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        str(ROOT / "benchmarks"),
        "-q",
        "-p",
        "no:cacheprovider",
        "--benchmark-json",
        str(out),
        "--benchmark-columns",
        "median,min,max,rounds",
    ]
    cmd += ["--quick"] if args.quick else []
    cmd += ["-k", args.k] if args.k else []
    code = subprocess.call(cmd, cwd=ROOT)
    if not out.exists():
        print(error_line(PROG, "pytest wrote no results"), file=sys.stderr)
        return code or 1
    md = table(json.loads(out.read_text()), args.quick)
    (RESULTS / "benchmarks.md").write_text(md)
    print("\n" + md)
    if args.docs:
        write_block(DOCS, BLOCK, md)
    return code


if __name__ == "__main__":
    sys.exit(main())
