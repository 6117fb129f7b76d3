"""Shared plumbing of figures 13–14: two real runs of different methods, probe by probe.

Each figure finds one run per method under `--runs` (`config.json`'s method; the first by folder
name when there are several) and lays their curves over each other as the simulator's figures 7–8
do, plus one panel for the claim's own measure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.probes import BYSTANDERS
from simulator.metrics import Trace

from .. import style
from ..paper import probe_world
from ..paper.probe_world import Method
from . import curves, io


@dataclass(frozen=True)
class Config:
    runs: Path | None = None  # a folder of runs (`--runs`), one per compared method
    ema: float = 0.0  # EMA α of the curves (the paper's is 0.9)


TINY = Config()


@dataclass(frozen=True)
class Compared:
    """{method: RunTrace} and {method: run folder name}."""

    runs: dict[str, curves.RunTrace]
    names: dict[str, str]

    @property
    def traces(self) -> dict[str, Trace]:
        return {m: r.trace for m, r in self.runs.items()}


def compute(cfg: Config, methods: tuple[Method, ...]) -> Compared:
    runs, names = {}, {}
    for m in methods:
        folder = io.find_method(Path(cfg.runs), m.name)
        if folder is None:
            raise FileNotFoundError(f"no {m.name} run in {cfg.runs} (config.json's method)")
        runs[m.name], names[m.name] = curves.read(folder), folder.name
    return Compared(runs, names)


def untrained_change(trace: Trace) -> tuple[np.ndarray, np.ndarray]:
    """(steps, mean over the untrained probe types of log π − its start) of one run."""
    series = [s for s in map(trace.series, BYSTANDERS) if s[0].size]
    steps = series[0][0]
    return steps, np.mean([v - v[0] for _, v in series], axis=0)


def untrained_panel(ax, d: Compared, methods: tuple[Method, ...], ema: float) -> None:
    for m in methods:
        steps, change = untrained_change(d.traces[m.name])
        ax.plot(steps, style.ema(change, ema), label=m.label, color=style.BLACK, **m.kw)
    ax.axhline(0.0, color=style.GREY, lw=0.8)
    ax.set(
        title="untrained probe types: mean change",
        xlabel="update step",
        ylabel=r"$\Delta\log\pi(y\,|\,x_u)$ since step 0",
    )
    ax.legend(loc="best")


def comparison_figure(d: Compared, methods: tuple[Method, ...], probes, ema: float, title: str):
    """One panel per probe, the concentration of π along y⁺ and the untrained types' mean change;
    `title` is followed by which run stands for which method."""
    fig = style.new_figure(24, 4.6)
    axes = fig.subplots(1, len(probes) + 2)
    probe_world.compare(axes[:-1], d.traces, methods, probes, ema)
    untrained_panel(axes[-1], d, methods, ema)
    fig.suptitle(f"{title} ({legend_names(d, methods)})" + probe_world.ema_note(ema))
    return fig, axes


def legend_names(d: Compared, methods: tuple[Method, ...]) -> str:
    return ", ".join(f"{m.name} = {d.names[m.name]}" for m in methods)
