"""Device, dtype and seed selection: the only place that looks at the hardware.

`pick_device` prefers cuda, then mps, then cpu; `pick_dtype` maps the `--precision` flag to a torch
dtype (bf16 only where the device supports it) and `slow_bf16` says when a CPU would emulate it;
`pick_compile` maps `--compile` to whether the model's body is `torch.compile`d (`compile_body`);
`keep_freed_blocks` stops glibc from handing a CPU step's large blocks back to the kernel;
`seed_everything` seeds python, numpy and torch.
"""

from __future__ import annotations

import ctypes
import random

import torch

from common.errors import UserError
from llm_validation.core.logprobs import body_and_head

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


def native_cpu_bf16() -> bool:
    """Whether this CPU has bf16 matrix units (AVX512-BF16 or AMX), through which oneDNN runs a
    bf16 matmul faster than fp32; without them bf16 is emulated and slower."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def slow_bf16(dtype: torch.dtype, device: torch.device, native: bool | None = None) -> str | None:
    """One line when bf16 autocast is asked of a CPU that emulates it, else None. On one with
    AVX512-BF16 a cpu-squeeze step costs 1.26 s in bf16 and 1.87 s in fp32 (docs/findings.md)."""
    if dtype != torch.bfloat16 or device.type != "cpu":
        return None
    if native_cpu_bf16() if native is None else native:
        return None
    return (
        "this CPU has no native bf16 (AVX512-BF16 or AMX): bf16 autocast is emulated and slower "
        "than fp32 here; add --precision fp32 for speed (the numbers then differ by bf16's rounding)"
    )


def pick_compile(requested: str, device: torch.device, track_kernel: int = 0) -> bool:
    """`on`, `off`, or `auto`: on for a CUDA card where inductor can build kernels (triton is
    installed) and the eNTK is not tracked (its torch.func transforms run the model eagerly);
    off elsewhere: on CPU the compile costs minutes that a short run never wins back, and the
    CPU numbers stay those of the eager model."""
    if requested in ("on", "off"):
        return requested == "on"
    if requested != "auto":
        raise UserError(f"unknown compile setting {requested!r}; choose from auto, on, off")
    from torch.utils._triton import has_triton

    return device.type == "cuda" and has_triton() and not track_kernel


def compile_body(model: torch.nn.Module) -> None:
    """`torch.compile` in place the part of `model` that every training and scoring forward runs:
    its body (`logprobs.body_and_head`), or the whole model where it does not split. Dynamic
    shapes: the batch's length changes every step. In place, so state dicts, checkpoints and
    `copy.deepcopy` (a frozen reference) see the plain module."""
    parts = body_and_head(model)
    (model if parts is None else parts.body).compile(dynamic=True)


M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc's mallopt parameters (malloc.h)


def keep_freed_blocks(device: torch.device) -> bool:
    """On a CPU under glibc, serve every allocation from the heap and never trim it: glibc maps
    a block of ≥ 32 MB afresh and unmaps it on free, so each step's embedding gradient, tied-head
    sum and RMSprop √v (113 MB each for SmolLM2) page-fault back in, zeroed by the kernel. Keeping
    them cut a cpu-squeeze step from 2.1 s to 1.8 s in fp32 and from 1.47 s to 1.22 s in bf16
    (docs/findings.md). True where the setting took (glibc, cpu), else False and nothing changes;
    it applies to the blocks allocated after it."""
    if device.type != "cpu":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (macOS, musl): its allocator keeps its own policy
        return False
    return bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1))


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
