"""Checkpoints for `--resume`: model and optimiser state at an evaluation step.

Data order and on-policy sampling are pure functions of (seed, step) (`runtime.step_generator`),
so (weights, optimiser state, step) is all a resumed run needs to reproduce the uninterrupted
one. Writes are atomic (temporary file, then rename): an interruption mid-write keeps the
previous checkpoint.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

CHECKPOINT = "checkpoint.pt"


def atomic_save(obj, path: Path) -> None:
    """torch.save through a temporary file and a rename. A failed write (disk full, folder
    removed) raises OSError, leaves the previous file as it was and no temporary file behind."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("wb") as handle:  # open() itself: OSError, where torch.save raises others
            torch.save(obj, handle)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_checkpoint(run_dir: Path, model, optimizer, step: int, extra: dict | None = None) -> None:
    """Model, optimiser, step and `extra` (plain data and tensors: the run's `Dynamics`)."""
    state = {"step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict()}
    atomic_save({**state, "extra": extra or {}}, run_dir / CHECKPOINT)


def load_checkpoint(run_dir: Path, model, optimizer, extra: dict | None = None) -> int:
    """Restore model and optimiser in place (and update `extra` with the stored one) → the
    checkpoint's step (0 when there is none)."""
    path = run_dir / CHECKPOINT
    if not path.is_file():
        return 0
    state = torch.load(path, map_location=next(model.parameters()).device, weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if extra is not None:
        extra.update(state.get("extra", {}))
    return int(state["step"])
