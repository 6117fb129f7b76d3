"""Reading llm_validation runs: `runs/<name>/metrics.csv` (tidy probe traces) and the
`predictions.csv` of `python -m llm_validation predict`. The only file reading of the figures.

A runs folder is either one run (it holds the file itself) or a folder of runs (`<dir>/*/file`).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.runs import (  # noqa: F401  (the file names figures read)
    COLUMNS,
    CONFIG,
    METRICS,
    PREDICTIONS,
    PROMPT_COLUMNS,
    PROMPTS,
    RunFileError,
    complete,
    load_metrics,
    read_metrics,
)
from common.runs import run_files as find
from simulator.metrics import Trace


def _rows(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """The CSV's rows as dicts, after checking that it has `columns` and at least one row."""
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in columns if c not in (reader.fieldnames or ())]
        rows = list(reader)
    if missing or not rows:
        raise RunFileError(
            f"{path}: " + (f"missing column(s) {', '.join(missing)}" if missing else "no rows")
        )
    return rows


def read_config(folder: Path) -> dict:
    """A run folder's config.json ({} if it has none)."""
    path = folder / CONFIG
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except ValueError as err:
        raise RunFileError(f"{path}: {err}") from None


def find_method(root: Path, method: str) -> Path | None:
    """The first run folder (by name) under root with a metrics.csv and config.json's `method`."""
    for path in find(root, METRICS):
        if read_config(path.parent).get("method") == method:
            return path.parent
    return None


def read_trace(path: Path) -> Trace:
    """A tidy metrics.csv (columns step, examples_seen, probe_type, metric, value) as a Trace,
    through `common.runs.load_metrics` (torn last line dropped, untrusted rows refused)."""
    return Trace.from_rows(load_metrics(path))


def read_prompt_changes(folder: Path, kind: str) -> tuple[np.ndarray, np.ndarray] | None:
    """prompts.csv's per-prompt change of `kind`'s summed log π since the first evaluation, on the
    steps at which every prompt was scored (a torn last line dropped): steps Shape (S,), Δ Shape
    (S, P); None without the file, the type, or two prompts."""
    path = folder / PROMPTS
    if not path.is_file():
        return None
    cells = {
        (int(r["step"]), r["prompt"]): float(r["logp"])
        for r in read_metrics(path)
        if complete(r, PROMPT_COLUMNS) and r["probe_type"] == kind
    }
    prompts = sorted({p for _, p in cells})
    steps = sorted({s for s, _ in cells if all((s, p) in cells for p in prompts)})
    if len(prompts) < 2 or not steps:
        return None
    values = np.array([[cells[s, p] for p in prompts] for s in steps])
    return np.array(steps), values - values[0]


@dataclass(frozen=True)
class Predictions:
    """One predict run at its configured η. Shapes: (n,) each."""

    name: str
    probe_type: np.ndarray
    predicted: np.ndarray
    actual: np.ndarray
    lr: float
    method: str
    optimizer: str


def read_predictions(path: Path) -> Predictions:
    """predictions.csv (update, probe_type, lr, predicted, actual, …) at config.json's η (else the
    largest η in the file, the one a `--lr-sweep` run was asked for)."""
    rows = _rows(path, ("probe_type", "lr", "predicted", "actual"))
    config = read_config(path.parent)
    try:
        lrs = np.array([float(r["lr"]) for r in rows])
        lr = float(config.get("lr", lrs.max()))
        keep = [r for r, x in zip(rows, lrs) if np.isclose(x, lr)]
        predicted = np.array([float(r["predicted"]) for r in keep])
        actual = np.array([float(r["actual"]) for r in keep])
    except ValueError as err:
        raise RunFileError(f"{path}: {err}") from None
    if not keep:
        raise RunFileError(f"{path}: no rows at the configured η = {lr:g}")
    return Predictions(
        name=path.parent.name,
        probe_type=np.array([r["probe_type"] for r in keep]),
        predicted=predicted,
        actual=actual,
        lr=lr,
        method=str(config.get("method", "?")),
        optimizer=str(config.get("optimizer", "?")),
    )
