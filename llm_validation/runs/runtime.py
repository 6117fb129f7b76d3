"""Device, dtype and seed selection: the only place that looks at the hardware.

`pick_device` prefers cuda, then mps, then cpu; `pick_dtype` maps the `--precision` flag to a torch
dtype (bf16 only where the device supports it); `seed_everything` seeds python, numpy and torch.
"""

from __future__ import annotations

import random

import torch

from common.errors import UserError

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16}


def pick_device(requested: str = "auto") -> torch.device:
    """`auto` → cuda if available, else mps, else cpu; any other string is taken literally, and
    a malformed or absent device is a `UserError`."""
    if requested != "auto":
        try:
            device = torch.device(requested)
        except RuntimeError:
            message = f"unknown device {requested!r}; use auto, cpu, cuda, cuda:N or mps"
            raise UserError(message) from None
        available = {"cuda": torch.cuda.is_available, "mps": torch.backends.mps.is_available}
        if device.type in available and not available[device.type]():
            raise UserError(f"device {requested!r} is not available here; use --device auto or cpu")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(precision: str, device: torch.device) -> torch.dtype:
    """`fp32` or `bf16`; `auto` is bf16 on a cuda card that supports it and fp32 elsewhere."""
    if precision == "auto":
        bf16_ok = device.type == "cuda" and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if bf16_ok else torch.float32
    if precision not in PRECISIONS:
        raise UserError(
            f"unknown precision {precision!r}; choose from auto, {', '.join(PRECISIONS)}"
        )
    return PRECISIONS[precision]


def seed_everything(seed: int) -> None:
    """Seed python's `random` and torch (all devices); numpy code takes explicit Generators."""
    random.seed(seed)
    torch.manual_seed(seed)


def step_generator(seed: int, step: int) -> torch.Generator:
    """A CPU generator for optimiser step `step`: a pure function of (seed, step), so that a
    resumed run draws exactly what the uninterrupted run drew (data order, on-policy samples)."""
    return torch.Generator().manual_seed(mixed_seed(seed, step))


def mixed_seed(seed: int, step: int) -> int:
    """The project's one seed-mixing formula: a distinct seed per (seed, step) pair."""
    return seed * 1_000_003 + step


def batch_indices(n: int, batch_size: int, step: int, seed: int) -> list[int]:
    """Examples of step `step`: positions [s·B, (s+1)·B) of the stream of per-epoch
    permutations, permutation e drawn from step_generator(seed, e). Every backend follows it."""
    out = []
    while len(out) < batch_size:
        epoch, offset = divmod(step * batch_size + len(out), n)
        perm = torch.randperm(n, generator=step_generator(seed, epoch)).tolist()
        out.extend(perm[offset : offset + batch_size - len(out)])
    return out
