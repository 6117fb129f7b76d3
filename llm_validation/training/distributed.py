"""Several processes (torchrun, accelerate launch): who scores which probe, and the gather.

Nothing here starts a process group: torchrun / accelerate / the Trainer do; `close` ends it. When none is
initialised every function is the single-process identity, so the same code runs either way.

Probe item i is scored on rank i mod W (W = world size); the per-item scores are gathered on
every rank (`all_gather_object`, which works on gloo and NCCL alike) and put back in item order, so
the result does not depend on W beyond the float rounding of a different batch composition.
"""

from __future__ import annotations

import atexit
from collections.abc import Sequence

import numpy as np
import torch
import torch.distributed as dist


def world() -> tuple[int, int]:
    """(rank, world size); (0, 1) without an initialised process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


_RETIRED: list = []  # process groups `close` destroyed, released at exit (`_release_retired`)


def close() -> None:
    """Destroy the process group, if one is initialised, once a run is done: a gloo thread that
    outlives the interpreter aborts it at exit (std::terminate, SIGABRT: an intermittent failure
    of a finished torchrun run).

    The group object itself is kept until `atexit`. A DDP model's reducer also holds it, and
    when the reducer is freed last (the trainer going out of scope just after this call) the
    group's destructor joins gloo's worker threads with the GIL held, while a worker still
    finishing the barrier's work waits for the GIL to free a Python-owned tensor: a deadlock
    (measured: 1 finished torchrun run in 14 hung in `~ProcessGroupGloo` under `Reducer`'s
    dealloc). Released from Python, the group's binding drops the GIL before destroying it."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()  # every rank done with its collectives before any tears the group down
        _RETIRED.append(dist.group.WORLD)
        dist.destroy_process_group()


@atexit.register
def _release_retired() -> None:
    """Free the retired groups while the interpreter is whole (atexit runs before finalisation)."""
    _RETIRED.clear()


def is_main() -> bool:
    return world()[0] == 0


def is_fsdp(model: torch.nn.Module) -> bool:
    """True for an FSDP-wrapped model (FSDP1 or fully_shard): its forward is a collective."""
    from torch.distributed.fsdp import FullyShardedDataParallel

    fsdp2 = getattr(torch.distributed.fsdp, "FSDPModule", ())
    return any(isinstance(m, (FullyShardedDataParallel, fsdp2)) for m in model.modules())


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside DistributedDataParallel / DataParallel wrappers (whose forward would
    broadcast buffers, a collective that ranks scoring different probes must not enter)."""
    wrappers = (torch.nn.parallel.DistributedDataParallel, torch.nn.DataParallel)
    while isinstance(model, wrappers):
        model = model.module
    return model


def shard(n: int, sharded: bool = True) -> np.ndarray:
    """Indices of the items this rank scores: i ≡ rank (mod W), or all of them if not `sharded`."""
    rank, size = world()
    return np.arange(n)[rank::size] if sharded else np.arange(n)


def gather_rows(n: int, index: np.ndarray, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every rank's `values` (arrays over its `index`) → full arrays over the n items, in item
    order, on every rank. Single process: `values` placed at `index`."""
    parts: Sequence = [(index, values)]
    if world()[1] > 1:
        parts = [None] * world()[1]
        dist.all_gather_object(parts, (index, values))
    out = {k: np.zeros(n) for k in values}
    for part_index, part_values in parts:
        for k, v in part_values.items():
            out[k][part_index] = v
    return out


def all_sum(t: torch.Tensor | None) -> torch.Tensor | None:
    """Σ over ranks of a CPU tensor, ranks with None (nothing to add) left out; the identity in
    one process."""
    if world()[1] > 1:
        parts = [None] * world()[1]
        dist.all_gather_object(parts, None if t is None else t.cpu())
        parts = [p for p in parts if p is not None]
        return torch.stack(parts).sum(0) if parts else None
    return t


def barrier() -> None:
    """Wait for every rank (a no-op in one process)."""
    if world()[1] > 1:
        dist.barrier()
