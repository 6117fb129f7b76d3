"""Shared plumbing of the sequence-world figures (5–9): one world and π₀, runs, probe curves.

Every figure of this group runs on the same seeded probe world and the same pretrained π₀
(`simulator.experiments`); `start` caches the pair so that one `python -m figures` pretrains once.
The run-folder figures (`figures.runs`) draw real runs in the same probe-curve panels.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from common import probes
from simulator.experiments import EXPERIMENTS, run_on, seed_streams, with_overrides
from simulator.metrics import Trace
from simulator.sequences import Readout, pretrain
from simulator.world import World, WorldConfig, build_world

from .. import style


@dataclass(frozen=True)
class CurveConfig:
    seed: int = 0  # seed of the world, π₀ and the samples
    steps: int = 200  # full-batch steps of the traced stage
    eval_every: int = 5  # steps between probe evaluations
    world: tuple = ()  # WorldConfig overrides as (field, value) pairs; () is the default world
    ema: float = 0.0  # EMA α of the curves (the paper's is 0.9); 0 draws raw values


# A world small enough to pretrain in a blink: the smoke-test setting of every figure 5–9.
TINY_WORLD = (
    ("vocab", 24),
    ("n_concepts", 6),
    ("n_topics", 2),
    ("n_train", 3),
    ("n_test", 3),
    ("n_corpus", 6),
    ("corpus_responses", 1),
    ("corpus_human", 4),
    ("pretrain_steps", 5),
)
TINY = CurveConfig(steps=4, eval_every=2, world=TINY_WORLD)


@lru_cache(maxsize=2)
def start(seed: int, world: tuple) -> tuple[World, Readout]:
    """The probe world drawn from `seed` and its pretrained π₀ (cached: pure in its arguments),
    from the same stream `python -m simulator run NAME --seed S` draws its world from."""
    world_rng, _ = seed_streams(np.random.default_rng(seed))
    w = build_world(WorldConfig(**dict(world)), world_rng)
    return w, pretrain(w)


def run(name: str, cfg: CurveConfig) -> Trace:
    """The named experiment (`simulator.experiments.EXPERIMENTS`) on the shared world and π₀,
    seeded exactly as `python -m simulator run NAME --seed S` (`run_experiment`)."""
    return _run(name, cfg.seed, cfg.steps, cfg.eval_every, cfg.world)


@lru_cache(maxsize=16)
def _run(name: str, seed: int, steps: int, eval_every: int, world: tuple) -> Trace:
    """`run`, cached on what it reads (figures 6 and 15 draw the same `dpo` run)."""
    world_, pi0 = start(seed, world)
    exp = with_overrides(EXPERIMENTS[name], steps=steps, eval_every=eval_every)
    _, run_rng = seed_streams(np.random.default_rng(seed))
    return run_on(exp, world_, pi0, run_rng)


def curve(ax, trace: Trace, probe_type: str, ema: float, metric: str = "logp", **kw) -> None:
    """Draw one probe type's metric (default log π(y|x_u)) against the update step, in its paper
    style; `kw` overrides the style."""
    steps, values = trace.series(probe_type, metric)
    ax.plot(steps, style.ema(values, ema), **{**style.probe_style(probe_type).kw(), **kw})


# How concentrated π is: 1 − max_v π(v|χ) on the contexts of y⁺. It falls as π concentrates,
# by learning y⁺ or by squeezing (`common.runs.TOKEN_METRICS`).
CONCENTRATION = ("chosen", "mass_outside_argmax")
CONCENTRATION_STYLE = {"color": "#555555", "ls": "-"}


@dataclass(frozen=True)
class Method:
    """One run of a comparison figure: the experiment's name, its legend and its line style."""

    name: str
    label: str
    kw: dict


BASELINE_KW = {"lw": 1.3, "marker": "o", "alpha": 0.7}
VARIANT_KW = {"lw": 2.6, "marker": "s"}


def compare(axes, traces: dict[str, Trace], methods: tuple[Method, ...], probes, ema: float):
    """One panel per probe type (and the concentration of π last), one line per method."""
    for ax, probe in zip(axes, (*probes, CONCENTRATION)):
        gauge = probe == CONCENTRATION
        for m in methods:
            trace = traces[m.name]
            kind, metric = probe if gauge else (probe, "logp")
            every = max(1, trace.series(kind, metric)[0].size // 10)
            extra = CONCENTRATION_STYLE if gauge else {}
            curve(
                ax, trace, kind, ema, metric, markevery=every, ms=5, label=m.label, **m.kw, **extra
            )
        if gauge:
            ax.set(
                title=r"concentration: $1-\max_v\pi(v\,|\,\chi)$ along $y^+_u$",
                xlabel="update step",
                ylabel="mass outside the argmax",
            )
        else:
            label_axes(ax, f"probe {style.probe_style(probe).label}")
        ax.legend(loc="best")


FAMILY_TITLES = {
    "chosen": r"chosen $y^+_u$ and its rephrases",
    "rejected": r"rejected $y^-_u$ and its rephrases",
    "irrelevant": "irrelevant responses",
    "random": "random responses",
    "y*": r"the argmax $y^*$",
}
FAMILY_PANELS = tuple((FAMILY_TITLES[f], probes.members(f)) for f in probes.FAMILIES)


def family_panels(axes, trace: Trace, ema: float) -> None:
    """One panel per probe family (`FAMILY_PANELS`), skipping types the trace lacks."""
    present = set(trace.probe_type.tolist())
    for ax, (title, types) in zip(axes, FAMILY_PANELS):
        for t in types:
            if t in present:
                curve(ax, trace, t, ema)
        label_axes(ax, title)
        if ax.lines:
            style.legend_below(ax)
        else:
            ax.text(0.5, 0.5, "not tracked", ha="center", va="center", transform=ax.transAxes)


def label_axes(ax, title: str) -> None:
    ax.set_title(title)
    ax.set_xlabel("update step")
    ax.set_ylabel(r"$\log\pi(y\,|\,x_u)$")


def ema_note(ema: float) -> str:
    return f", EMA α = {ema:g}" if ema > 0 else ""
