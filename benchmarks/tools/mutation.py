"""`make mutate`: mutation testing (cosmic-ray) of a few core modules, each against the tests
that cover it, as a habit: a surviving mutant is a missing test or dead code.

    python -m benchmarks.tools.mutation [--only common/runs.py …] [--sample N] [--cosmic-ray PATH]

Each module of `TARGETS` is mutated in a scratch copy of the tracked tree (the working tree is
never touched): `cosmic-ray init`, the operator filter below, `cosmic-ray exec`, then the score

    killed / (killed + survived)        (a mutant that breaks the import or times out is killed)

per module and overall, and every survivor as `path:line operator`. Operators that only rewrite
an arithmetic operator into a bitwise one, or a comparison into `is`, are filtered: they are
caught by any test that runs the line and would only inflate the score. Not part of `make test`:
every mutant reruns its test selection (minutes per module on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# module → the test selection that covers it (what a developer runs after editing the module)
TARGETS = {
    "common/cliargs.py": "tests/common/test_cliargs.py",
    "common/runs.py": "tests/common/test_runs.py",
    "llm_validation/core/winrate_stats.py": "tests/llm_alignment/test_winrate_stats.py",
    "simulator/squeeze.py": "tests/simulator/test_squeeze.py",
}
EXCLUDED_OPERATORS = [
    r"core/ReplaceBinaryOperator_.*_(BitAnd|BitOr|BitXor|LShift|RShift)$",
    r"core/ReplaceBinaryOperator_(BitAnd|BitOr|BitXor|LShift|RShift)_.*",
    r"core/ReplaceComparisonOperator_.*_(Is|IsNot)$",
    r"core/ReplaceComparisonOperator_(Is|IsNot)_.*",
    r"core/ReplaceUnaryOperator_.*_Invert$",
]


def config_text(module: str, tests: str, timeout: float) -> str:
    test_command = f"{sys.executable} -m pytest -x -q -p no:cacheprovider -p no:randomly {tests}"
    excluded = ", ".join(f"'{e}'" for e in EXCLUDED_OPERATORS)
    return (
        "[cosmic-ray]\n"
        f'module-path = "{module}"\n'
        f"timeout = {timeout}\n"
        "excluded-modules = []\n"
        f'test-command = "{test_command}"\n'
        "[cosmic-ray.distributor]\n"
        'name = "local"\n'
        "[cosmic-ray.filters.operators-filter]\n"
        f"exclude-operators = [{excluded}]\n"
    )


def scratch_copy(into: Path) -> None:
    """The tracked files of the tree (and untracked ones git does not ignore) under `into`."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for name in listed:
        source = ROOT / name
        if source.is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name)


def outcomes(session: Path) -> list[tuple[str, str, str, int]]:
    """(test outcome, operator, module, line) of every mutant that ran."""
    with sqlite3.connect(session) as db:
        return db.execute(
            "SELECT r.test_outcome, s.operator_name, s.module_path, s.start_pos_row "
            "FROM work_results r JOIN mutation_specs s ON r.job_id = s.job_id "
            "WHERE lower(r.worker_outcome) != 'skipped'"
        ).fetchall()


def keep_sample(session: Path, size: int, seed: int = 0) -> None:
    """Skip all but a seeded random `size` of the pending mutants (a score on a sample)."""
    with sqlite3.connect(session) as db:
        pending = [
            job
            for (job,) in db.execute(
                "SELECT job_id FROM work_items WHERE job_id NOT IN (SELECT job_id FROM work_results)"
            )
        ]
        random.Random(seed).shuffle(pending)
        db.executemany(
            "INSERT INTO work_results (worker_outcome, output, test_outcome, diff, job_id) "
            "VALUES ('SKIPPED', 'not in the sample', NULL, NULL, ?)",
            [(job,) for job in pending[size:]],
        )


def mutate(
    module: str, tests: str, tree: Path, tool: Path, timeout: float, sample: int | None = None
) -> dict:
    """Run cosmic-ray on one module in `tree` → counts and survivors."""
    name = module.replace("/", "_")
    config, session = tree / f"{name}.toml", tree / f"{name}.sqlite"
    config.write_text(config_text(module, tests, timeout))
    env = {**os.environ, "HYPOTHESIS_PROFILE": "dev", "OMP_NUM_THREADS": "1"}
    bindir = tool.parent
    for step in (
        [tool, "init", config, session],
        [bindir / "cr-filter-operators", session, config],
    ):
        subprocess.run([str(s) for s in step], cwd=tree, env=env, check=True)
    if sample is not None:
        keep_sample(session, sample)
    subprocess.run([str(tool), "exec", str(config), str(session)], cwd=tree, env=env, check=True)
    rows = outcomes(session)
    survived = [
        f"{m}:{line} {op}" for outcome, op, m, line in rows if str(outcome).lower() == "survived"
    ]
    return {"module": module, "mutants": len(rows), "survived": survived}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.tools.mutation", description=__doc__
    )
    parser.add_argument("--only", nargs="*", default=list(TARGETS), help="modules of TARGETS")
    parser.add_argument("--cosmic-ray", default=shutil.which("cosmic-ray") or "cosmic-ray")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per mutant")
    parser.add_argument(
        "--sample", type=int, default=None, help="test a seeded random N mutants per module"
    )
    args = parser.parse_args(argv)
    unknown = set(args.only) - set(TARGETS)
    if unknown:
        parser.error(f"unknown module(s) {', '.join(sorted(unknown))}; choose from {list(TARGETS)}")
    results = []
    with tempfile.TemporaryDirectory(prefix="mutate-") as scratch:
        tree = Path(scratch)
        scratch_copy(tree)
        for module in args.only:
            started = time.perf_counter()
            result = mutate(
                module, TARGETS[module], tree, Path(args.cosmic_ray), args.timeout, args.sample
            )
            result["seconds"] = round(time.perf_counter() - started)
            results.append(result)
    print("| module | tests | mutants | killed | score |\n|---|---|---|---|---|")
    total = killed = 0
    for r in results:
        k = r["mutants"] - len(r["survived"])
        total, killed = total + r["mutants"], killed + k
        score = k / r["mutants"] if r["mutants"] else float("nan")
        print(
            f"| `{r['module']}` | `{TARGETS[r['module']]}` | {r['mutants']} | {k} | {score:.0%} |"
        )
    if total:
        print(f"| all | | {total} | {killed} | {killed / total:.0%} |")
    for r in results:
        for survivor in r["survived"]:
            print(f"survived: {survivor}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
