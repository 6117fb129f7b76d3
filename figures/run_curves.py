"""Figure 10 — probe curves of real llm_validation runs (`runs/<name>/metrics.csv`).

The same five family panels as the simulator's figures 5–6, one row per run, so a real DPO run
can be laid beside the paper's curves and the probe world's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

from simulator.metrics import Trace

from . import runs_io, sim_runs, style


@dataclass(frozen=True)
class Config:
    runs: Path | None = None  # a run folder, or a folder of runs (`--runs`)
    max_runs: int = 4  # rows: the first runs by name
    ema: float = 0.0  # EMA α of the curves (the paper's is 0.9)


TINY = Config()


def compute(cfg: Config) -> dict[str, Trace]:
    """{run name: trace} of the runs under cfg.runs that have a metrics.csv."""
    paths = runs_io.find(Path(cfg.runs), runs_io.METRICS)[: cfg.max_runs]
    if not paths:
        raise FileNotFoundError(f"no {runs_io.METRICS} in {cfg.runs} or its subfolders")
    return {p.parent.name: runs_io.read_trace(p) for p in paths}


def plot(traces: dict[str, Trace], cfg: Config) -> Figure:
    n = len(sim_runs.FAMILY_PANELS)
    fig = style.new_figure(18, 0.6 + 3.8 * len(traces))
    rows = fig.subfigures(len(traces), 1, squeeze=False)[:, 0]
    for sub, (name, trace) in zip(rows, traces.items()):
        sim_runs.family_panels(sub.subplots(1, n), trace, cfg.ema)
        sub.suptitle(f"run {name}", fontsize=11, x=0.01, ha="left")
    fig.suptitle(
        r"Real LM runs: mean summed $\log\pi(y\,|\,x_u)$ per probe type"
        + sim_runs.ema_note(cfg.ema)
    )
    return fig
