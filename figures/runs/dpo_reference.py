"""Figure 15 — the simulator's long off-policy DPO beside the reference SmolLM2 run.

The reference is the project's own trainer on SmolLM2-135M-Instruct (499 HH pairs, RMSprop at
5e-6, batch 4, 150 warmup steps; `../shared/reference/h200-smollm2/dpo-5e-6`, its README beside
it). The panels compare the squeeze's footprint, not the scales: the per-token log-prob of y⁺
(the simulator's responses have a fixed length L, so its per-token value is log π(y⁺|x)/L), the
mass outside the argmax along y⁺, and the mean per-token change of the bystanders (every probe
type no step trains on), each against the fraction of the run, since the runs differ in length.
When the reference folder is absent the figure is skipped with that reason (`unavailable`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from common import probes
from common.runs import LOGP, LOGP_TOKEN, METRICS
from simulator.metrics import Trace

from .. import style
from ..paper import probe_world
from . import io

REFERENCE = "../shared/reference/h200-smollm2/dpo-5e-6"


@dataclass(frozen=True)
class Config(probe_world.CurveConfig):
    steps: int = 300  # the CLI's `run dpo`
    reference: str = REFERENCE  # the reference run's folder (metrics.csv)


TINY = Config(steps=4, eval_every=2, world=probe_world.TINY_WORLD)


def unavailable(cfg: Config) -> str | None:
    """Why the figure cannot be drawn (no reference run), or None."""
    path = Path(cfg.reference) / METRICS
    return None if path.is_file() else f"no reference run: {path} not found"


@dataclass(frozen=True)
class Curves:
    """One run's squeeze footprint: fraction of the run, and each measure. Shapes: (T,) each."""

    fraction: np.ndarray
    chosen_token_logp: np.ndarray
    mass_outside_argmax: np.ndarray
    bystander_token_change: np.ndarray


def simulator_curves(trace: Trace, length: int) -> Curves:
    """The simulator's footprint; fixed-length responses, so per-token = sequence / L."""
    steps, chosen = trace.series("chosen", LOGP)
    _, mass = trace.series("chosen", "mass_outside_argmax")
    _, bystanders = trace.series("squeeze", "bystander_change")
    return Curves(steps / steps[-1], chosen / length, mass, bystanders / length)


def reference_curves(trace: Trace) -> Curves:
    """The reference run's footprint from its `logp_token` rows: the bystanders' change is the
    mean over the bystander types it tracked of Δ(mean per-token log-prob)."""
    steps, chosen = trace.series("chosen", LOGP_TOKEN)
    _, mass = trace.series("chosen", "mass_outside_argmax")
    present = set(trace.probe_type[trace.metric == LOGP_TOKEN].tolist())
    changes = [
        v - v[0]
        for p in probes.BYSTANDERS
        if p in present
        for v in [trace.series(p, LOGP_TOKEN)[1]]
    ]
    return Curves(steps / steps[-1], chosen, mass, np.mean(changes, axis=0))


def compute(cfg: Config) -> dict[str, Curves]:
    world, _ = probe_world.start(cfg.seed, cfg.world)
    sim = simulator_curves(probe_world.run("dpo", cfg), world.cfg.length)
    ref = reference_curves(io.read_trace(Path(cfg.reference) / METRICS))
    return {f"simulator (probe world, seed {cfg.seed})": sim, "SmolLM2-135M reference": ref}


PANELS = (
    ("chosen_token_logp", r"$y^+_u$: mean per-token $\log\pi$"),
    ("mass_outside_argmax", r"mass outside the argmax along $y^+_u$"),
    ("bystander_token_change", r"bystanders: mean per-token $\Delta\log\pi$"),
)


def plot(data: dict[str, Curves], cfg: Config) -> Figure:
    fig = style.new_figure(15, 4.4)
    axes = fig.subplots(1, len(PANELS))
    kws = ({"color": style.BLUE, "ls": "-"}, {"color": style.BLACK, "ls": "--"})
    for ax, (field, title) in zip(axes, PANELS):
        for (label, curves), kw in zip(data.items(), kws):
            values = getattr(curves, field)
            ax.plot(curves.fraction, style.ema(values, cfg.ema), label=label, marker=".", **kw)
        ax.set(title=title, xlabel="fraction of the run (step / last step)")
        ax.legend(loc="best")
    fig.suptitle(
        "Long off-policy DPO with RMSprop: the simulator's squeeze footprint beside the "
        "reference LM's" + probe_world.ema_note(cfg.ema)
    )
    return fig
