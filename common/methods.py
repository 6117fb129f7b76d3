"""Finetuning methods as sequences of phases: the one registry that the native trainer, `run
--backend trl`, `LearningDynamicsCallback`, `trends` and the figures read.

A phase trains one loss (`simulator.losses.LOSSES`) for some steps on one kind of data:

- `pairs`: the dataset's (y⁺, y⁻) pairs (SFT reads y⁺ only);
- `both`: y⁺ and y⁻ as separate SFT examples (the paper's dataset extension, Sec. 4.3: SFT on
  both responses first, so that DPO's negative gradient no longer hits a valley and squeezes);
  its baseline `sft-dpo` runs SFT on y⁺ only for the same steps (the same examples seen per
  stage), then the same DPO phase;
- `onpolicy`: two samples per prompt from the current policy, ranked by a reward (Sec. 4.4).

A phase runs for `steps` optimiser steps, or for `sft_steps` (default `steps`) where its spec
says so; steps count on across phases, so phase k starts at global step Σ_{j<k} steps_j. A
phase with a reference takes π_ref = the model as the phase starts: the initial model for DPO,
the SFT checkpoint for `extend-dpo`'s DPO phase. Each phase names the trl trainer and config
classes that run it under `run --backend trl` (and that `LearningDynamicsCallback` recognises).

Pure data and pure functions: no torch, no trl, no files.
"""

from __future__ import annotations

from dataclasses import dataclass

DATA_KINDS = ("pairs", "both", "onpolicy")
STEP_COUNTS = ("steps", "sft_steps")


@dataclass(frozen=True)
class PhaseSpec:
    """One phase of a method: its loss, its data kind, the setting that counts its steps
    (`steps`, or `sft_steps` defaulting to `steps`) and the trl trainer / config class names."""

    loss: str
    data: str  # one of DATA_KINDS
    count: str  # one of STEP_COUNTS
    trainer: str  # trl's trainer class, e.g. "DPOTrainer"
    trainer_config: str  # its config class, e.g. "DPOConfig"


@dataclass(frozen=True)
class Phase:
    """A planned phase: its spec's loss, data and trl classes, its steps and its first global
    step."""

    loss: str
    data: str
    steps: int
    first_step: int
    trainer: str
    trainer_config: str

    def record(self) -> dict:
        """The phase as summary.json's `phases` records it."""
        return phase_record(self.loss, self.data, self.first_step, self.steps)


def phase_record(loss: str | None, data: str | None, first_step: int, steps: int) -> dict:
    """One entry of summary.json's `phases`: {loss, data, first_step, steps} (loss and data None
    where the writer could not tell, e.g. a callback in an unknown trainer)."""
    return {"loss": loss, "data": data, "first_step": int(first_step), "steps": int(steps)}


SFT = PhaseSpec("sft", "pairs", "steps", "SFTTrainer", "SFTConfig")


def _dpo_like(loss: str) -> PhaseSpec:
    return PhaseSpec(loss, "pairs", "steps", "DPOTrainer", "DPOConfig")


def _sft_then_dpo(sft_data: str) -> tuple[PhaseSpec, ...]:
    """SFT for `sft_steps` (default `steps`) on `sft_data`, then DPO for `steps` on the pairs."""
    return (PhaseSpec("sft", sft_data, "sft_steps", "SFTTrainer", "SFTConfig"), _dpo_like("dpo"))


METHODS: dict[str, tuple[PhaseSpec, ...]] = {
    "sft": (SFT,),
    "dpo": (_dpo_like("dpo"),),
    "ipo": (_dpo_like("ipo"),),
    "simpo": (PhaseSpec("simpo", "pairs", "steps", "CPOTrainer", "CPOConfig"),),
    "slic": (_dpo_like("slic"),),
    "rpo": (_dpo_like("rpo"),),
    "extend-dpo": _sft_then_dpo("both"),  # Sec. 4.3
    "sft-dpo": _sft_then_dpo("pairs"),  # Sec. 4.3's baseline
    "onpolicy-dpo": (  # Sec. 4.4
        PhaseSpec("dpo", "onpolicy", "steps", "OnlineDPOTrainer", "OnlineDPOConfig"),
    ),
}


def plan(method: str, steps: int, sft_steps: int | None = None) -> list[Phase]:
    """The phases of `method` with `steps` (and `sft_steps`, default `steps`), each with its
    first global step; steps count on across phases. KeyError for a method not registered."""
    counts = {"steps": steps, "sft_steps": steps if sft_steps is None else sft_steps}
    phases, begin = [], 0
    for spec in METHODS[method]:
        n = int(counts[spec.count])
        phases.append(Phase(spec.loss, spec.data, n, begin, spec.trainer, spec.trainer_config))
        begin += n
    return phases


def single_phase_method(trainer_config: str) -> str | None:
    """The method whose single phase runs on trl config class `trainer_config`; None when no
    method or several do (DPOConfig runs dpo, ipo, slic and rpo: its loss_type tells them
    apart)."""
    found = [
        name
        for name, specs in METHODS.items()
        if len(specs) == 1 and specs[0].trainer_config == trainer_config
    ]
    return found[0] if len(found) == 1 else None
