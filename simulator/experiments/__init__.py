"""What a user runs: the paper's finetuning runs as named configs, and the command line.

The simulator's math (softmax, losses, kernels, one step, squeezing, the probe world and its
readout, what an evaluation records) lives one folder up, as pure functions of arrays and a
generator. This room puts it to work: `runs` holds the named frozen `ExperimentConfig`s
(`EXPERIMENTS`) and runs them on a seeded world; `cli` is `python -m simulator` (`decompose`,
`squeeze`, `list`, `run`), the only place in the simulator that prints or writes a run folder.
"""

from .runs import (
    EXPERIMENTS,
    ONPOLICY_ABLATION,
    ExperimentConfig,
    ablation,
    probe_batches,
    run_experiment,
    run_on,
    seed_streams,
    with_overrides,
)

__all__ = [
    "EXPERIMENTS",
    "ONPOLICY_ABLATION",
    "ExperimentConfig",
    "ablation",
    "probe_batches",
    "run_experiment",
    "run_on",
    "seed_streams",
    "with_overrides",
]
