"""`run --backend NAME`: a `RunConfig` run by the trainer it names, the native loop
(`training.train`) or trl's trainers with the learning-dynamics callback (`trl.backend`).

It sits above both rooms, so that neither imports the other; `llm_validation.main` is its `main`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from llm_validation.config import RunConfig
from llm_validation.training.train import check_config
from llm_validation.training.train import main as native


def main(cfg: RunConfig, on_eval: Callable[[int], None] | None = None) -> Path:
    """Run `cfg` through `cfg.backend` → its run folder. `on_eval(step)` is called after each
    evaluation of the native trainer is written and checkpointed (a notebook hook; raising
    KeyboardInterrupt there interrupts the run)."""
    if cfg.backend != "trl":
        return native(cfg, on_eval)
    check_config(cfg)  # the settings no backend can run, before trl's own checks
    from llm_validation.trl.backend import run_trl  # transformers loads for this backend only

    return run_trl(cfg)
