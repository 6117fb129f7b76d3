"""Figure 12 — how stable the eNTK is along a real run, and how far the one-step picture predicts
a trajectory (`python -m llm_validation run --track-kernel K`, its drift.json).

Left: the correlation of the row-normalised relative-influence matrix with its start. Middle and
right: the actual change of every tracked probe over intervals of S steps against the stable-kernel
prediction (gradients at the interval's start) and the per-step first-order prediction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

from common.runs import DRIFT

from . import io, plots


@dataclass(frozen=True)
class Config:
    runs: Path | None = None  # a tracked run folder, or a folder of runs (`--runs`)


TINY = Config()


def compute(cfg: Config) -> tuple[Path, dict]:
    paths = io.find(Path(cfg.runs), DRIFT)
    if not paths:
        raise FileNotFoundError(f"no {DRIFT} in {cfg.runs} or its subfolders")
    return paths[0].parent, json.loads(paths[0].read_text())


def plot(data: tuple[Path, dict], cfg: Config) -> Figure:
    folder, drift = data
    return plots.kernel_drift(folder, drift)
