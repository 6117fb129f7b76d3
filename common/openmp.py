"""How OpenMP's idle threads wait, chosen before torch loads (`python -m llm_validation`).

libgomp's default spins a waiting thread for a while before it sleeps: on idle cores that keeps
each of a step's thousands of parallel regions from paying a wake-up (a cpu-squeeze step, bf16,
batch 8, 2 idle cores: 2.79 s, against 3.43 s with `OMP_WAIT_POLICY=PASSIVE`). On cores that other
processes already load, the spin burns their time slices (measured: up to 10× the CPU time of a
SmolLM2 step at load average 7), so there threads sleep at once.
"""

from __future__ import annotations

import os


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def wait_policy(load: float, cpus: int) -> str | None:
    """`PASSIVE` when the 1-minute load average already fills the usable CPUs less one half
    (another job is running), else None: OpenMP's default."""
    return "PASSIVE" if load > cpus - 0.5 else None


def choose_wait_policy() -> str | None:
    """Set `OMP_WAIT_POLICY` from the load as this process starts, unless the user set it (or the
    platform has no load average) → the policy now in force, None for OpenMP's default."""
    if "OMP_WAIT_POLICY" not in os.environ and hasattr(os, "getloadavg"):
        if policy := wait_policy(os.getloadavg()[0], usable_cpus()):
            os.environ["OMP_WAIT_POLICY"] = policy
    return os.environ.get("OMP_WAIT_POLICY")
