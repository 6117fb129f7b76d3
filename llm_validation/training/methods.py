"""Finetuning methods as sequences of phases, in a registry.

A phase trains one loss (`losses.LOSSES`) for some steps on one kind of data:

- `pairs`: the dataset's (y⁺, y⁻) pairs (SFT reads y⁺ only);
- `both`: y⁺ and y⁻ as separate SFT examples (the paper's dataset extension, Sec. 4.3: SFT on
  both responses first, so that DPO's negative gradient no longer hits a valley and squeezes);
  its baseline `sft-dpo` runs SFT on y⁺ only for the same steps (the same examples seen per
  stage), then the same DPO phase;
- `onpolicy`: two samples per prompt from the current policy, ranked by a reward (Sec. 4.4).

A phase with a reference takes π_ref = the model as the phase starts: the initial model for
DPO, the SFT checkpoint for `extend-dpo`'s DPO phase.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.probes import PAIR_TYPES
from llm_validation.config import RunConfig


@dataclass(frozen=True)
class Phase:
    loss: str
    steps: int
    data: str  # "pairs" | "both" | "onpolicy"


def _offline(loss: str):
    return lambda cfg: [Phase(loss, cfg.steps, "pairs")]


def _sft_then_dpo(sft_data: str):
    """SFT for `sft_steps` (default `steps`) on `sft_data`, then DPO for `steps` on the pairs."""

    def phases(cfg: RunConfig) -> list[Phase]:
        sft_steps = cfg.steps if cfg.sft_steps is None else cfg.sft_steps
        return [Phase("sft", sft_steps, sft_data), Phase("dpo", cfg.steps, "pairs")]

    return phases


METHODS = {
    "sft": _offline("sft"),
    "dpo": _offline("dpo"),
    "ipo": _offline("ipo"),
    "simpo": _offline("simpo"),
    "slic": _offline("slic"),
    "rpo": _offline("rpo"),
    "extend-dpo": _sft_then_dpo("both"),
    "sft-dpo": _sft_then_dpo("pairs"),
    "onpolicy-dpo": lambda cfg: [Phase("dpo", cfg.steps, "onpolicy")],
}


def required_fields(method: str) -> tuple[str, ...]:
    """What every training example needs: `sft` trains on y⁺ alone (so trl's `messages` rows,
    which have no y⁻, are SFT data); every other method needs (y⁺, y⁻)."""
    return ("chosen",) if method == "sft" else PAIR_TYPES


def plan(cfg: RunConfig) -> list[tuple[int, Phase]]:
    """[(first global step, phase)] for `cfg.method`; steps count on across phases."""
    phases, begin = [], 0
    for phase in METHODS[cfg.method](cfg):
        phases.append((begin, phase))
        begin += phase.steps
    return phases
