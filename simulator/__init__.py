"""Fixed-kernel softmax simulator of LLM finetuning dynamics (numpy + scipy only).

The public surface: losses and their residuals, kernels, one step with its Proposition 1
decomposition, the squeezing analysis, and the paper's SFT/DPO/extension/on-policy runs on a
synthetic probe world of teacher-forced sequences (`run_experiment`, `PROBE_TYPES`, `Trace`).
The math is pure functions of arrays and a generator, one concept per module here; the named runs
and the command line, the only I/O, are the `experiments` room; `digits` is the explicit
Jacobian and eNTK of a small real network (figure 2).
"""

from .experiments import (
    EXPERIMENTS,
    ExperimentConfig,
    run_experiment,
    run_on,
    seed_streams,
    with_overrides,
)
from .kernels import MLP, apply_kernel, kernel_block, linear_kernel, mlp_entk, rbf_kernel
from .losses import (
    LOSSES,
    LossValue,
    SequenceScores,
    UpdateBatch,
    dpo_coefficient,
    get_loss,
    log_ratio_margin,
    loss_and_residual,
    register,
)
from .metrics import PROBE_TYPES, Trace, trends
from .problems import Problem, random_problem
from .responses import Responses, residual, sequence_logp
from .sequences import Readout, encode, pretrain, readout_kernel, sample
from .softmax import a_frobenius_sq, a_matrix, apply_a, log_softmax, softmax
from .squeeze import (
    SqueezeReport,
    negative_step,
    rise_threshold,
    squeeze_closed_form,
    target_label,
    with_probability,
    zipf_logits,
)
from .step import StepResult, first_order_change, relative_error, take_step
from .world import World, WorldConfig, build_world

__all__ = [
    "EXPERIMENTS",
    "ExperimentConfig",
    "PROBE_TYPES",
    "Readout",
    "Trace",
    "World",
    "WorldConfig",
    "build_world",
    "encode",
    "pretrain",
    "readout_kernel",
    "run_experiment",
    "run_on",
    "sample",
    "seed_streams",
    "trends",
    "with_overrides",
    "LOSSES",
    "MLP",
    "LossValue",
    "Problem",
    "Responses",
    "SequenceScores",
    "SqueezeReport",
    "StepResult",
    "UpdateBatch",
    "a_frobenius_sq",
    "a_matrix",
    "apply_a",
    "apply_kernel",
    "dpo_coefficient",
    "first_order_change",
    "get_loss",
    "kernel_block",
    "linear_kernel",
    "log_ratio_margin",
    "log_softmax",
    "loss_and_residual",
    "mlp_entk",
    "negative_step",
    "random_problem",
    "rbf_kernel",
    "register",
    "relative_error",
    "residual",
    "rise_threshold",
    "sequence_logp",
    "softmax",
    "squeeze_closed_form",
    "take_step",
    "target_label",
    "with_probability",
    "zipf_logits",
]
