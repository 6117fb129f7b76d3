"""The run format every run writes, simulator or LM, and the figures read.

A run folder holds

    config.json   the resolved configuration (plus `kind`: "simulator" or "llm")
    metrics.csv   tidy rows `step, examples_seen, probe_type, metric, value`
    summary.json  what the command printed, as one JSON object
    prompts.csv   per-probe-prompt rows `step, probe_type, prompt, logp` (LM runs): the summed
                  log π(y|x) of each probe prompt, `prompt` its `prompt_id`, so that any verdict
                  over prompts (`trends`' intervals) can be recomputed from the run folder

`metric` is `logp` (the mean over probe examples of the summed log π(y|x): the paper's curves),
`logp_token` (the mean of the token mean) or one of `TOKEN_METRICS`, averaged over the response
positions: at each context χ with observed token y and softmax π,

    mass_outside_argmax  1 − max_v π(v|χ)          (falls as squeezing concentrates mass)
    one_minus_pi         1 − π(y|χ)
    residual_norm        ‖π(χ) − e_y‖₂             (the SFT residual's size)
    a_frobenius          ‖A(χ)‖_F = √(V‖π‖² + V − 2)

Runs are named `runs/<part>-<part>-…` unless `--out` says otherwise (`run_dir`). Rows are appended
and flushed one evaluation at a time, so an interrupted run keeps everything it wrote.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

COLUMNS = ("step", "examples_seen", "probe_type", "metric", "value")
LOGP, LOGP_TOKEN = "logp", "logp_token"
TOKEN_METRICS = ("mass_outside_argmax", "one_minus_pi", "residual_norm", "a_frobenius")
CONFIG, METRICS, SUMMARY = "config.json", "metrics.csv", "summary.json"
PROMPTS = "prompts.csv"
PROMPT_COLUMNS = ("step", "probe_type", "prompt", "logp")
# what other commands write beside them (figures read them): predict, influence, --track-kernel
PREDICTIONS, INFLUENCE = "predictions.csv", "influence.csv"
KERNEL, TRAJECTORY, DRIFT = "kernel.csv", "trajectory.csv", "drift.json"
TRAIN = "train"  # probe_type of the training loss rows (metric `loss`)

Row = tuple[str, str, float]  # (probe_type, metric, value) of one evaluation
PromptRow = tuple[str, str, float]  # (probe_type, prompt id, log π(y|x)) of one evaluation


def prompt_id(prompt: str) -> str:
    """A probe prompt's id in `prompts.csv`: the first 12 hex digits of the SHA-1 of its text, so
    that two runs are paired on the prompts they share, whatever order or subset each probed."""
    return hashlib.sha1(prompt.encode("utf-8")).hexdigest()[:12]


def data_name(spec: str) -> str:
    """The data part of a run name: `synthetic`, or a data file's stem."""
    return spec if spec == "synthetic" else Path(spec).stem


TWO_PHASE = ("extend-dpo", "sft-dpo")  # SFT for `sft_steps` (default `steps`), then DPO


def last_phase_start(config: dict) -> int:
    """The step at which a run's last phase begins, from its config.json: 0 for one phase."""
    if config.get("method") not in TWO_PHASE:
        return 0
    sft_steps = config.get("sft_steps")
    return int(config.get("steps", 0) if sft_steps is None else sft_steps)


def run_files(root: Path, filename: str) -> list[Path]:
    """root/filename if it exists (one run folder), else every root/*/filename (a folder of
    runs), sorted by run name."""
    own = Path(root) / filename
    return [own] if own.is_file() else sorted(Path(root).glob(f"*/{filename}"))


def run_dir(out: str | None, *parts: str) -> Path:
    """`out` if given, else runs/<parts joined by '-'> (model paths reduced to their last name)."""
    if out:
        return Path(out)
    return Path("runs") / "-".join(Path(p).name for p in parts)


def write_json(path: Path, obj) -> None:
    """Write JSON atomically: a reader sees the old file or the new one, never half of one."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)


class _TidyLog:
    """Append-only writer of a tidy CSV whose first column is `step`; each `append` is flushed to
    disk before returning. `keep_through=s` (resume) keeps the rows with step ≤ s and drops the
    rest; None starts anew."""

    columns: tuple[str, ...]

    def __init__(self, path: Path, keep_through: int | None = None):
        kept = []
        if keep_through is not None and path.is_file():
            kept = [
                r
                for r in read_metrics(path)
                if complete(r, self.columns) and int(r["step"]) <= keep_through
            ]
        self.path = path
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(self.columns)
            writer.writerows([r[c] for c in self.columns] for r in kept)

    def _append(self, rows: Iterable[Sequence]) -> None:
        with self.path.open("a", newline="") as handle:
            csv.writer(handle).writerows(rows)
            handle.flush()
            os.fsync(handle.fileno())


class MetricsLog(_TidyLog):
    """`metrics.csv`: one evaluation's (probe_type, metric, value) rows at a time."""

    columns = COLUMNS

    def append(self, step: int, examples_seen: int, rows: Iterable[Row]) -> None:
        self._append(
            (step, examples_seen, kind, metric, repr(float(value))) for kind, metric, value in rows
        )


class PromptLog(_TidyLog):
    """`prompts.csv`: one evaluation's (probe_type, prompt id, log π) rows at a time."""

    columns = PROMPT_COLUMNS

    def append(self, step: int, rows: Iterable[PromptRow]) -> None:
        self._append((step, kind, prompt, repr(float(logp))) for kind, prompt, logp in rows)


class RunLogs:
    """An LM run's two logs, `metrics.csv` and `prompts.csv`, appended one evaluation at a time
    (prompts first: a run killed in between keeps metrics.csv's last evaluation complete)."""

    def __init__(self, folder: Path, keep_through: int | None = None):
        self.metrics = MetricsLog(Path(folder) / METRICS, keep_through)
        self.prompts = PromptLog(Path(folder) / PROMPTS, keep_through)

    def append(
        self, step: int, examples_seen: int, rows: Iterable[Row], prompt_rows: Iterable[PromptRow]
    ) -> None:
        self.prompts.append(step, prompt_rows)
        self.metrics.append(step, examples_seen, rows)


def complete(row: dict, columns: Sequence[str] = COLUMNS) -> bool:
    """A row with every column filled and a numeric step: not the torn last line of a process
    killed while it wrote."""
    return all(row.get(c) not in (None, "") for c in columns) and row["step"].isdigit()


def write_metrics(path: Path, rows: Iterable[Sequence]) -> None:
    """Write complete (step, examples_seen, probe_type, metric, value) rows at once."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows((s, e, p, m, repr(float(v))) for s, e, p, m, v in rows)


def read_metrics(path: Path) -> list[dict[str, str]]:
    """The rows of a `metrics.csv` as dicts of strings."""
    with Path(path).open(newline="") as handle:
        return list(csv.DictReader(handle))
