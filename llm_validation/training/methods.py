"""What a method asks of the training data; the methods themselves (phases, steps, trl
trainers) are the registry `common.methods`."""

from __future__ import annotations

from common.methods import Phase, plan
from common.probes import PAIR_TYPES


def required_fields(method: str) -> tuple[str, ...]:
    """What every training example needs: `sft` trains on y⁺ alone (so trl's `messages` rows,
    which have no y⁻, are SFT data); every other method needs (y⁺, y⁻)."""
    return ("chosen",) if method == "sft" else PAIR_TYPES


def plan_of(cfg) -> list[Phase]:
    """The phases a run config trains (`common.methods.plan` of its method, steps, sft_steps)."""
    return plan(cfg.method, cfg.steps, cfg.sft_steps)
