"""`drift --run DIR`: the tables of a run recorded with `--track-kernel` (`kernel_tracking`).

- drift of the relative-influence matrix from the first evaluation, per evaluation and subset
  (correlation of the row-normalised matrices, largest entry change), from metrics.csv;
- per interval length S, the agreement of the actual change of every tracked probe over each
  interval with (a) the stable-kernel prediction and (b) the per-step first-order prediction
  (Pearson r, sign agreement, relative error), from trajectory.csv.
Writes drift.json into the run folder.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from common.errors import UserError
from common.runs import DRIFT, KERNEL, METRICS, TRAJECTORY, claim_run_dir, load_metrics, write_json
from llm_validation.config import DriftConfig
from llm_validation.core.agreement import summarize

PREDICTION_KINDS = {
    "fixed_kernel": "stable kernel (gradients at the interval's start)",
    "per_step": "first order per step",
}


def drift_table(run: Path) -> list[dict]:
    """[{step, subset, correlation, max_change}] from the `kernel` rows of metrics.csv."""
    rows = [r for r in load_metrics(run / METRICS) if r[2] == "kernel"]
    table: dict[tuple[int, str], dict] = {}
    for step, _, _, metric, value in rows:
        name, subset = metric.rsplit("_", 1)
        entry = table.setdefault((step, subset), {"step": step, "subset": subset})
        entry[name.removeprefix("drift_")] = value
    return [table[k] for k in sorted(table)]


def trajectory_table(run: Path) -> list[dict]:
    """Per interval length S and prediction: agreement over every (interval, probe)."""
    if not (run / TRAJECTORY).is_file():
        return []
    with (run / TRAJECTORY).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    out = []
    for s in sorted({int(r["interval"]) for r in rows}):
        sel = [r for r in rows if int(r["interval"]) == s]
        actual = np.array([float(r["actual"]) for r in sel])
        for key in PREDICTION_KINDS:
            pred = np.array([float(r[key]) for r in sel])
            out.append(
                {
                    "interval": s,
                    "prediction": key,
                    "intervals": len({r["start"] for r in sel}),
                    **summarize(pred, actual),
                }
            )
    return out


def write_drift(run: Path) -> dict:
    """Both tables of a tracked run folder, also written as its drift.json."""
    summary = {"drift": drift_table(run), "trajectory": trajectory_table(run)}
    write_json(run / DRIFT, summary)
    return summary


def main(cfg: DriftConfig) -> dict:
    run = Path(cfg.run)
    if not (run / KERNEL).is_file() or not (run / METRICS).is_file():
        raise UserError(
            f"--run: {run} has no {KERNEL} and {METRICS}; record it with `run --track-kernel K`"
        )
    with claim_run_dir(run, None):  # not while the run (or another drift) writes it
        return write_drift(run)
