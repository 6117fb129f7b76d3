"""Shared plumbing of the sequence-world figures (5–9): one world and π₀, runs, probe curves.

Every figure of this group runs on the same seeded probe world and the same pretrained π₀
(`simulator.experiments`); `start` caches the pair so that one `python -m figures` pretrains once.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from simulator.experiments import EXPERIMENTS, run_on, with_overrides
from simulator.metrics import Trace
from simulator.sequences import Readout, pretrain
from simulator.world import World, WorldConfig, build_world

from . import style


@dataclass(frozen=True)
class RunConfig:
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
TINY = RunConfig(steps=4, eval_every=2, world=TINY_WORLD)


@lru_cache(maxsize=2)
def start(seed: int, world: tuple) -> tuple[World, Readout]:
    """The probe world drawn from `seed` and its pretrained π₀ (cached: pure in its arguments)."""
    w = build_world(WorldConfig(**dict(world)), np.random.default_rng(seed))
    return w, pretrain(w)


def run(name: str, cfg: RunConfig) -> Trace:
    """The named experiment (`simulator.experiments.EXPERIMENTS`) on the shared world and π₀."""
    world, pi0 = start(cfg.seed, cfg.world)
    exp = with_overrides(EXPERIMENTS[name], steps=cfg.steps, eval_every=cfg.eval_every)
    return run_on(exp, world, pi0, np.random.default_rng(cfg.seed + 1))


def curve(ax, trace: Trace, probe_type: str, ema: float, **kw) -> None:
    """Draw log π(y|x_u) of one probe type against the update step, in its paper style."""
    steps, values = trace.series(probe_type)
    ax.plot(steps, style.ema(values, ema), **{**style.probe_style(probe_type).kw(), **kw})


FAMILY_PANELS = (
    (
        r"chosen $y^+_u$ and its rephrases",
        ("chosen", "chosen_gptsemantic", "chosen_gptformat", "chosen_initial"),
    ),
    (r"rejected $y^-_u$ and its rephrases", ("rejected", "reject_gptsemantic", "reject_gptformat")),
    ("irrelevant responses", ("irr_train", "irr_test", "irr_hum")),
    ("random responses", ("random_permute", "random_nonhum")),
    (r"the argmax $y^*$", ("y_star",)),
)


def family_panels(axes, trace: Trace, ema: float) -> None:
    """One panel per probe family (`FAMILY_PANELS`), skipping types the trace lacks."""
    present = set(trace.probe_type.tolist())
    for ax, (title, types) in zip(axes, FAMILY_PANELS):
        for t in types:
            if t in present:
                curve(ax, trace, t, ema)
        label_axes(ax, title)
        if ax.lines:
            ax.legend(loc="best")
        else:
            ax.text(0.5, 0.5, "not tracked", ha="center", va="center", transform=ax.transAxes)


def label_axes(ax, title: str) -> None:
    ax.set_title(title)
    ax.set_xlabel("update step")
    ax.set_ylabel(r"$\log\pi(y\,|\,x_u)$")


def ema_note(ema: float) -> str:
    return f", EMA α = {ema:g}" if ema > 0 else ""
