"""Figure 10 — probe curves of real llm_validation runs (`runs/<name>/metrics.csv`), one per run.

The paper's panel layout, as in the simulator's figures 5–6: the chosen family, the rejected
family, the irrelevant responses, the random strings and y*, and a sixth panel with the token
diagnostics along y⁺ (how concentrated π is, how far from y⁺'s tokens). A two-phase run
(`extend-dpo`, `sft-dpo`) marks where its DPO begins, as its summary.json records (or, for a run
without recorded phases, as the method registry `common.methods` plans it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

from common.runs import last_phase_start, run_phases
from simulator.metrics import Trace

from .. import style
from ..paper import probe_world as sim_runs
from . import io as runs_io


@dataclass(frozen=True)
class Config:
    runs: Path | None = None  # a run folder, or a folder of runs (`--runs`)
    ema: float = 0.0  # EMA α of the curves (the paper's is 0.9)


TINY = Config()

# Along y⁺, at every evaluation (`common.runs.TOKEN_METRICS`); ‖A‖_F ≈ √V is in metrics.csv too.
DIAGNOSTICS = {
    "mass_outside_argmax": r"$1-\max_v\pi(v\,|\,\chi)$",
    "one_minus_pi": r"$1-\pi(y_l\,|\,\chi)$",
    "residual_norm": r"$\|\pi-e_{y_l}\|_2$",
}


@dataclass(frozen=True)
class RunTrace:
    """One run: its trace, its method and where its last phase starts (0 for one phase)."""

    trace: Trace
    method: str
    last_phase_start: int


def read(folder: Path) -> RunTrace:
    config = runs_io.read_config(folder)
    trace = runs_io.read_trace(folder / runs_io.METRICS)
    start = last_phase_start(run_phases(folder))  # as summary.json records, or as planned
    return RunTrace(trace, str(config.get("method", "?")), start)


def compute(cfg: Config) -> dict[str, RunTrace]:
    """{run name: RunTrace} of every run under cfg.runs that has a metrics.csv."""
    paths = runs_io.find(Path(cfg.runs), runs_io.METRICS)
    if not paths:
        raise FileNotFoundError(f"no {runs_io.METRICS} in {cfg.runs} or its subfolders")
    return {p.parent.name: read(p.parent) for p in paths}


def mark_phase(axes, step: int) -> None:
    """A dotted line where DPO begins after the SFT stage (nothing for a one-phase run)."""
    if step > 0:
        for ax in axes:
            ax.axvline(step, color=style.GREY, ls=":", lw=1.2, label="_DPO begins")


def diagnostics_panel(ax, trace: Trace, ema: float) -> None:
    for metric, label in DIAGNOSTICS.items():
        steps, values = trace.series("chosen", metric)
        if steps.size:
            ax.plot(steps, style.ema(values, ema), label=label)
    ax.set(
        title=r"token diagnostics along $y^+_u$", xlabel="update step", ylabel="mean over tokens"
    )
    if ax.lines:
        style.legend_below(ax)
    else:
        ax.text(0.5, 0.5, "not tracked", ha="center", va="center", transform=ax.transAxes)


def run_figure(name: str, run: RunTrace, ema: float) -> Figure:
    """The six panels of one run."""
    fig = style.new_figure(22, 4.4)
    axes = fig.subplots(1, len(sim_runs.FAMILY_PANELS) + 1)
    sim_runs.family_panels(axes[:-1], run.trace, ema)
    diagnostics_panel(axes[-1], run.trace, ema)
    mark_phase(axes, run.last_phase_start)
    phase = f", DPO from step {run.last_phase_start}" if run.last_phase_start else ""
    fig.suptitle(
        f"run {name} ({run.method}{phase}): mean summed "
        + r"$\log\pi(y\,|\,x_u)$ per probe type"
        + sim_runs.ema_note(ema)
    )
    return fig


def plot(runs: dict[str, RunTrace], cfg: Config) -> dict[str, Figure]:
    return {name: run_figure(name, run, cfg.ema) for name, run in runs.items()}
