"""The paper's finetuning runs on the synthetic probe world, as named frozen configs.

An experiment has two stages, both from the pretrained π₀ (`sequences.pretrain`):

1. an optional SFT stage of `pre_sft_steps` steps on y⁺ (`sft-dpo`) or on y⁺ and y⁻ (`extend-dpo`,
   the paper's Sec. 4.3 extension), not traced;
2. the traced stage: `steps` full-batch steps of `loss` on the training prompts' pairs, with the
   reference π_ref = the model at the start of this stage. Off-policy runs use the world's fixed
   (y⁺, y⁻); `on_policy` names the sides drawn from the current policy every step instead
   (`onpolicy_samples` responses per prompt, ranked by the world's ground-truth reward, which is
   blind to the probes): y⁺ = the best sample, y⁻ = the worst. ("chosen", "rejected") is on-policy
   DPO; one side alone pairs a sample with the world's fixed response on the other side (the
   on-policy ablation, `ONPOLICY_ABLATION`).

Public API (used by theory tests and figures):

    run_experiment(cfg, rng) -> Trace       # = `python -m simulator run NAME --seed S`
    ablation(names, world, start, rng) -> {name: squeeze measures}   # e.g. ONPOLICY_ABLATION
    run_on(cfg, world, start, rng) -> Trace # a given world and π₀ (shares pretraining across runs)
    seed_streams(rng) -> (world_rng, run_rng)   # the two streams run_experiment draws
    EXPERIMENTS[name] -> ExperimentConfig   # the named configs; PROBE_TYPES in `metrics`
    with_overrides(cfg, lr=…, vocab=…)      # world fields are routed to cfg.world

The trace is tidy: (step, examples_seen, probe_type, metric, value); examples_seen counts
preference pairs (SFT: responses) consumed by the traced stage. The CLI's `run` is the
experiment's main: it writes runs/simulator-<name>/ in the run format of `common.runs`
(config.json, metrics.csv, summary.json; the only I/O).

Defaults. β = 0.1 is DPO's default in the paper and in Rafailov et al.; the step sizes and
lengths are this world's, not the paper's. `dpo`, the paper's central long off-policy run, uses
the paper's optimiser: RMSprop at η = 3e-2 with its 150 linear warmup steps, 300 traced steps;
RMSprop keeps its step size as the loss saturates, which is what lets y⁺ fall (`dpo-sgd`, the
named contrast, is plain SGD, whose step shrinks with σ(−βh): y⁺ stalls above its start). The
other runs use plain SGD on M at η = 0.5 for the preference losses and η = 0.05 for SFT, 300
traced steps (an on-policy run samples every step and must stay < 10 s).
IPO's residual is unscaled by β, and one IPO step maps h − 1/(2β) to (1 − 4ηc)(h − 1/(2β))
under K = c·I (C14), with c here the kernel summed over L = 16 positions: at η = 0.05 the margin
overshoots and diverges, so IPO runs at η = 0.01. Which trends hold over which ranges of these
settings is measured, seed by seed, in docs/simulator.md ("Simulator experiments").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace

import numpy as np
from scipy import sparse

from ..losses import get_loss
from ..metrics import Trace, evaluate, final_values, squeeze_start, world_measures
from ..sequences import (
    Batch,
    Optimizer,
    Readout,
    encode,
    gradient,
    pretrain,
    residual_of,
    sample,
    train,
)
from ..world import World, WorldConfig, build_world


def _help(text: str, default=None, factory=None):
    if factory is not None:
        return field(default_factory=factory, metadata={"help": text})
    return field(default=default, metadata={"help": text})


@dataclass(frozen=True)
class ExperimentConfig:
    """One finetuning run on the probe world."""

    name: str = _help("the experiment's name (CLI and runs/<name>/)", "dpo")
    summary: str = _help("one line for `python -m simulator list`", "")
    loss: str = _help("loss of the traced stage, a name in losses.LOSSES", "dpo")
    steps: int = _help("full-batch steps of the traced stage", 300)
    lr: float = _help("step size η of the traced stage", 0.5)
    beta: float | None = _help("β of dpo/ipo/simpo/rpo; None keeps the loss's default", None)
    pre_sft_steps: int = _help("SFT steps before the traced stage (0: start at π₀)", 0)
    pre_sft_on: tuple = _help(
        "responses of the SFT stage: ('chosen',) or ('chosen', 'rejected')", ("chosen",)
    )
    pre_sft_lr: float = _help("step size of the SFT stage", 0.05)
    on_policy: tuple = _help(
        "sides drawn from the current policy, ranked by the true reward: (), ('chosen',), "
        "('rejected',) or ('chosen', 'rejected')",
        (),
    )
    onpolicy_samples: int = _help("responses drawn per prompt and step when on_policy", 4)
    optimizer: str = _help(
        "'sgd' (the fixed-kernel step) or 'rmsprop' (diagonal preconditioner)", "sgd"
    )
    warmup_steps: int = _help(
        "linear warmup of η over the first N traced steps, η·min(1, (s+1)/(N+1)) (DPO repo)", 0
    )
    eval_every: int = _help("steps between evaluations", 20)
    world: WorldConfig = _help(
        "the probe world (vocab size, response length, …)", factory=WorldConfig
    )

    def check(self) -> None:
        """Raise ValueError on a config that cannot run (before any work is done)."""
        get_loss(self.loss)
        self.world.check()
        if min(self.steps, self.pre_sft_steps, self.warmup_steps) < 0 or self.eval_every < 1:
            raise ValueError("steps, pre_sft_steps and warmup_steps must be ≥ 0, eval_every ≥ 1")
        for name in ("lr", "beta"):  # `not x > 0` also refuses NaN
            value = getattr(self, name)
            if value is not None and not (np.isfinite(value) and value > 0):
                raise ValueError(f"--{name} must be a finite number > 0, got {value}")
        if self.optimizer not in ("sgd", "rmsprop"):
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose sgd or rmsprop")
        if not set(self.on_policy) <= {"chosen", "rejected"}:
            raise ValueError(
                f"on_policy sides must be 'chosen' and/or 'rejected', got {self.on_policy}"
            )

    def hyperparameters(self) -> dict:
        """The loss settings this config overrides: β where the loss has one."""
        defaults = get_loss(self.loss).defaults
        return {"beta": self.beta} if self.beta is not None and "beta" in defaults else {}


def _named(**kw) -> ExperimentConfig:
    return ExperimentConfig(**kw)


EXPERIMENTS = {
    c.name: c
    for c in (
        _named(
            name="sft",
            loss="sft",
            lr=0.05,
            steps=150,
            summary="SFT on y⁺: chosen and its rephrase rise, so do other prompts' answers",
        ),
        _named(
            name="dpo",
            optimizer="rmsprop",  # paper: RMSprop (its LM runs; the reference SmolLM2 run too)
            lr=3e-2,
            warmup_steps=150,  # paper: 150 warmup steps
            summary="long off-policy DPO from π₀ (RMSprop): y⁺ peaks, then falls below its start; "
            "everything falls but y*, which squeezing lifts",
        ),
        _named(
            name="dpo-sgd",
            summary="contrast: off-policy DPO with plain SGD, whose step shrinks with the loss: "
            "y⁺ rises and stays above its start",
        ),
        _named(
            name="sft-dpo",
            pre_sft_steps=10,
            summary="SFT on y⁺, then DPO with π_ref = the SFT model",
        ),
        _named(
            name="extend-dpo",
            pre_sft_steps=10,
            pre_sft_on=("chosen", "rejected"),
            summary="SFT on y⁺ and y⁻ (extension), then DPO: a weaker squeeze",
        ),
        _named(
            name="onpolicy-dpo",
            on_policy=("chosen", "rejected"),
            summary="DPO on pairs sampled from the current policy",
        ),
        _named(
            name="onpolicy-chosen-dpo",
            on_policy=("chosen",),
            summary="ablation: on-policy y⁺ (best sample) against the fixed y⁻, which sinks to a valley",
        ),
        _named(
            name="onpolicy-rejected-dpo",
            on_policy=("rejected",),
            summary="ablation: the fixed y⁺ against an on-policy y⁻ (worst sample), never in a valley",
        ),
        _named(name="ipo", loss="ipo", lr=0.01, summary="off-policy IPO from π₀"),
        _named(name="simpo", loss="simpo", summary="off-policy SimPO from π₀ (no reference)"),
        _named(name="slic", loss="slic", summary="off-policy SLiC-HF from π₀"),
        _named(name="rpo", loss="rpo", summary="off-policy RPO (DPO + NLL on y⁺) from π₀"),
    )
}


# Which side of on-policy DPO changes the squeeze: both, on-policy y⁺ with the fixed (valley) y⁻,
# the fixed y⁺ with an on-policy y⁻, against off-policy DPO with the same optimiser (SGD).
ONPOLICY_ABLATION = ("dpo-sgd", "onpolicy-dpo", "onpolicy-chosen-dpo", "onpolicy-rejected-dpo")


def probe_batches(world: World, start: Readout, rng: np.random.Generator) -> dict[str, Batch]:
    """Every probe as a teacher-forced batch under the training prompts; chosen_initial is drawn
    once from π₀ (the model before finetuning) and then held fixed."""
    probes = dict(world.probes)
    probes["chosen_initial"] = sample(world, start, world.train, rng)
    return {name: encode(world, world.train, tokens) for name, tokens in probes.items()}


def run_experiment(
    cfg: ExperimentConfig, rng: np.random.Generator, on_eval: Callable[[list], None] | None = None
) -> Trace:
    """Draw the world, pretrain π₀ on its corpus, and run `cfg` (`on_eval`: see `run_on`).

    rng is split with `spawn(2)` into the world's stream and the run's (chosen_initial, on-policy
    samples), so `run_on(cfg, world, start, run_rng)` with the same streams reproduces it.
    """
    world_rng, run_rng = seed_streams(rng)
    world = build_world(cfg.world, world_rng)
    return run_on(cfg, world, pretrain(world), run_rng, on_eval)


def seed_streams(rng: np.random.Generator) -> tuple[np.random.Generator, np.random.Generator]:
    """(world_rng, run_rng): the two independent streams `run_experiment` draws from rng."""
    world_rng, run_rng = rng.spawn(2)
    return world_rng, run_rng


def run_on(
    cfg: ExperimentConfig,
    world: World,
    start: Readout,
    rng: np.random.Generator,
    on_eval: Callable[[list], None] | None = None,
) -> Trace:
    """Run `cfg` on a given world from the pretrained model `start` (π₀). `on_eval(rows)` gets
    each evaluation's new (step, examples_seen, probe_type, metric, value) rows as they are
    measured (the CLI appends them to metrics.csv, so a killed run keeps them)."""
    cfg.check()
    probes = probe_batches(world, start, rng)
    rows = [(0, 0, "world", k, v) for k, v in world_measures(start, probes["chosen"]).items()]
    optimizer = Optimizer(cfg.optimizer)
    model = _sft_stage(cfg, world, start, optimizer)
    ref, reference = model, squeeze_start(model, probes)
    fixed = {"chosen": probes["chosen"], "rejected": probes["rejected"]}
    if get_loss(cfg.loss).groups == ("y",):
        fixed = {"y": fixed["chosen"]}
    fixed_ref_z = ref.logits(sparse.vstack([b.phi for b in fixed.values()], format="csr"))
    hp = cfg.hyperparameters()
    v = np.zeros_like(model.m)
    seen = 0
    for step in range(cfg.steps + 1):
        if step % cfg.eval_every == 0 or step == cfg.steps:
            new = len(rows) if step else 0  # step 0 also carries the world rows
            rows.extend((step, seen, *r) for r in evaluate(model, probes, reference))
            if on_eval is not None:
                on_eval(rows[new:])
        if step == cfg.steps:
            break
        if cfg.on_policy and "y" not in fixed:
            groups = _on_policy_pairs(world, model, cfg, fixed, rng)
            ref_z = None
        else:
            groups, ref_z = fixed, fixed_ref_z  # fixed responses: π_ref's logits read once
        n = next(iter(groups.values())).n
        if n == 0:
            continue
        _, g, phi = residual_of(model, cfg.loss, groups, ref, ref_z=ref_z, **hp)
        lr = cfg.lr * warmup_factor(step, cfg.warmup_steps)
        m, v = optimizer.update(model.m, gradient(model, phi, g) / n, v, lr)
        model = model.with_m(m)
        seen += n
    return Trace.from_rows(rows)


def warmup_factor(step: int, warmup_steps: int) -> float:
    """The DPO repo's linear warmup, min(1, (s + 1)/(N + 1)) at step s (1 for N = 0), as the
    LM trainer's `--warmup-steps`."""
    return min(1.0, (step + 1) / (warmup_steps + 1)) if warmup_steps > 0 else 1.0


def ablation(
    names: tuple[str, ...], world: World, start: Readout, rng: np.random.Generator, **overrides
) -> dict[str, dict[str, float]]:
    """{experiment: its squeeze measures at the end} for each named experiment on one world,
    every run drawing from its own stream spawned from rng (e.g. `ONPOLICY_ABLATION`)."""
    out = {}
    for name, stream in zip(names, rng.spawn(len(names))):
        trace = run_on(with_overrides(EXPERIMENTS[name], **overrides), world, start, stream)
        out[name] = final_values(trace, "squeeze")
    return out


def _sft_stage(
    cfg: ExperimentConfig, world: World, start: Readout, optimizer: Optimizer
) -> Readout:
    if cfg.pre_sft_steps == 0:
        return start
    prompts = np.concatenate([world.train for _ in cfg.pre_sft_on])
    tokens = np.vstack([world.probes[name] for name in cfg.pre_sft_on])
    data = {"y": encode(world, prompts, tokens)}
    return train(start, "sft", data, cfg.pre_sft_steps, cfg.pre_sft_lr, optimizer=optimizer)


def _on_policy_pairs(
    world: World, model: Readout, cfg: ExperimentConfig, fixed: dict, rng: np.random.Generator
) -> dict[str, Batch]:
    """Draw k = onpolicy_samples responses per training prompt from π; y⁺ = the best, y⁻ = the
    worst by the true reward, on the sides cfg.on_policy names; the other side stays `fixed`.
    A prompt whose samples all score alike is dropped when both sides are drawn (no preference)."""
    n, k = world.train.size, cfg.onpolicy_samples
    idx = np.repeat(np.arange(n), k)
    drawn = encode(world, world.train[idx], sample(world, model, world.train[idx], rng))
    reward = world.reward(world.train[idx], drawn.tokens).reshape(n, k)
    picks = {
        "chosen": k * np.arange(n) + reward.argmax(axis=1),
        "rejected": k * np.arange(n) + reward.argmin(axis=1),
    }
    keep = np.arange(n)
    if len(cfg.on_policy) == 2:
        keep = keep[reward.max(axis=1) > reward.min(axis=1)]
    return {
        side: drawn.select(picks[side][keep]) if side in cfg.on_policy else fixed[side].select(keep)
        for side in ("chosen", "rejected")
    }


def with_overrides(cfg: ExperimentConfig, **kw) -> ExperimentConfig:
    """cfg with fields replaced; world fields (vocab, length, …) are routed to cfg.world."""
    world_names = {f.name for f in fields(WorldConfig)}
    world_kw = {k: v for k, v in kw.items() if k in world_names}
    top = {k: v for k, v in kw.items() if k not in world_names}
    return replace(cfg, world=replace(cfg.world, **world_kw), **top)
