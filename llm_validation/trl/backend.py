"""`run --backend trl`: the project's methods through trl's trainers, the callback attached.

Each method's phases are the registry's (`common.methods.plan`), each naming the trl trainer
that runs it; `SETTINGS` gives that trainer's settings for the phase's loss (`trl_phases`).
Hyper-parameters come from the config or the registered loss's defaults (`loss_params`), so
`--beta` etc. mean what they mean natively.

| method       | trl trainer (settings)                                   | native loss it stands for   |
|--------------|----------------------------------------------------------|-----------------------------|
| `sft`        | SFTTrainer on (x, y⁺)                                    | −log π(y⁺|x)                |
| `dpo`        | DPOTrainer, loss_type sigmoid, β                         | −log σ(β h)                 |
| `ipo`        | DPOTrainer, loss_type ipo, β                             | (h − 1/(2β))²               |
| `slic`       | DPOTrainer, [hinge, sft], β = 1/δ, weights [δ, λ]        | relu(δ − Δ) − λ log π(y⁺)   |
| `rpo`        | DPOTrainer, [sigmoid, sft], weights [1, α]               | −log σ(β h) − α log π(y⁺)/L |
| `simpo`      | CPOTrainer, loss_type simpo, cpo_alpha 0, β, γ           | SimPO Eq. 6                 |
| `extend-dpo` | SFTTrainer on y⁺ and y⁻, then DPOTrainer, π_ref = SFT    | Sec. 4.3                    |
| `sft-dpo`    | SFTTrainer on y⁺, then DPOTrainer, π_ref = SFT           | extend-dpo's baseline       |
| `onpolicy-dpo` | OnlineDPOTrainer (experimental), reward_funcs = reward | Sec. 4.4                    |

`onpolicy-dpo` runs trl 1.16's `trl.experimental.online_dpo.OnlineDPOTrainer` (experimental in
trl: its API may change) with our reward as its `reward_funcs` callable (the ground truth on
`synthetic`, else `--reward module:function`) and a frozen copy of the initial model as π_ref.

Conventions that differ from the native backend (named in tests/llm_trl/test_trl_backend.py):

- tokenisation: trl tokenises prompt and prompt + response together and splits at their common
  prefix; native tokenises them separately (the DPO repo) unless `--boundary trl`. They agree
  where no token straddles the boundary (the synthetic task; 28 of HH's 6,478 probe responses
  straddle it). The probes are scored with `--boundary` in both backends.
- truncation: trl cuts prompt + response to `max_length` from the end (`keep_start`); native cuts
  the prompt first (paper: 512 / 256, keep_end). They agree when nothing is cut.
- loss normalisation: trl's SFT loss (SFTTrainer and the `sft` term of slic / rpo) is a token
  mean over the batch; native sums tokens per sequence and averages sequences. trl's ipo uses
  token-mean log-ratios (trl's documented choice); native ipo uses sequence sums (the paper).
  slic's hinge in trl is on the reference-corrected margin h; native's on Δ = log π(y⁺) − log π(y⁻).
- adamw: transformers exempts biases and norm weights from weight decay; native decays all.
- onpolicy-dpo: trl samples with its own generation loop and seed stream and breaks reward ties
  its own way, so the samples (and curves) differ from native's run by run; only the method is
  the same.
- resuming: trl runs do not write `checkpoint.pt` (config.json records `checkpoint: false`);
  `--resume` is native only.

The data order is native's (`runtime.batch_indices`), laid out as one row per example seen and
read sequentially, so one process sees the same batches as `--backend native`; under torchrun
each optimiser step's B examples are split over the ranks (B/W each; the gradients average).
"""

from __future__ import annotations

import copy
import functools
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from transformers import TrainerCallback

from common.errors import UserError
from common.methods import Phase, plan
from common.progress import Off, progress
from common.runs import SUMMARY, claim_run_dir, write_summary
from llm_validation.config import RunConfig
from llm_validation.core.directions import OPTIMISERS
from llm_validation.core.logprobs import CutReport, encode
from llm_validation.core.losses import LOSSES, hyper_parameters
from llm_validation.sources.examples import Example
from llm_validation.training.distributed import barrier, is_main, world
from llm_validation.training.inputs import open_inputs
from llm_validation.training.methods import required_fields
from llm_validation.training.onpolicy import load_reward
from llm_validation.training.runtime import batch_indices, pick_device, pick_dtype
from llm_validation.training.tracking import report_cuts, truncation_of
from llm_validation.trl.callback import LearningDynamicsCallback


def loss_params(name: str, cfg: RunConfig) -> dict:
    """The loss's hyper-parameters: the config's value where set, else the registered default."""
    spec = LOSSES[name]
    return {**spec.defaults, **hyper_parameters(spec, asdict(cfg))}


@dataclass(frozen=True)
class TrlPhase:
    """One trl training phase: the registry's phase (its trainer, steps, data: `pairs`, the
    preference pairs; `both`, y⁺ and y⁻ as SFT examples; `onpolicy`, the prompts) and the
    trainer-config settings for its loss."""

    phase: Phase
    settings: dict = field(default_factory=dict)

    @property
    def trainer(self) -> str:
        return self.phase.trainer

    @property
    def steps(self) -> int:
        return self.phase.steps

    @property
    def data(self) -> str:
        return self.phase.data


def _dpo(
    loss_type: list[str],
    weights: Callable[[dict], list[float]] | None = None,
    beta: Callable[[dict], float] = lambda p: p["beta"],
) -> Callable[[RunConfig, dict], dict]:
    def settings(cfg: RunConfig, p: dict) -> dict:
        out = {"loss_type": loss_type, "beta": beta(p)}
        if weights is not None:
            out["loss_weights"] = weights(p)
        return out

    return settings


def _simpo(cfg: RunConfig, p: dict) -> dict:
    return {"loss_type": "simpo", "cpo_alpha": 0.0, "beta": p["beta"], "simpo_gamma": p["gamma"]}


def _online(cfg: RunConfig, p: dict) -> dict:
    """Two samples per prompt at temperature 1, no top-k / top-p cut (as native), ranked by
    the reward; DPO's sigmoid loss against a frozen copy of the initial model."""
    return {
        "beta": [p["beta"]],
        "loss_type": "sigmoid",
        "max_new_tokens": cfg.max_new_tokens,
        "temperature": 1.0,
        "top_k": 0,
        "top_p": 1.0,
    }


# (trl config class, loss) → the trainer config's settings, from the run's config and the
# loss's hyper-parameters (`loss_params`)
SETTINGS: dict[tuple[str, str], Callable[[RunConfig, dict], dict]] = {
    ("SFTConfig", "sft"): lambda cfg, p: {},
    ("DPOConfig", "dpo"): _dpo(["sigmoid"]),
    ("DPOConfig", "ipo"): _dpo(["ipo"]),
    # trl's hinge is relu(1 − β h): with β = 1/δ and weight δ it is relu(δ − h)
    ("DPOConfig", "slic"): _dpo(
        ["hinge", "sft"], lambda p: [p["delta"], p["lam"]], lambda p: 1 / p["delta"]
    ),
    ("DPOConfig", "rpo"): _dpo(["sigmoid", "sft"], lambda p: [1.0, p["alpha"]]),
    ("CPOConfig", "simpo"): _simpo,
    ("OnlineDPOConfig", "dpo"): _online,
}


def trl_phases(cfg: RunConfig) -> list[TrlPhase]:
    """The registry's phases of `cfg.method`, each with its trl trainer's settings."""
    return [
        TrlPhase(
            phase, SETTINGS[phase.trainer_config, phase.loss](cfg, loss_params(phase.loss, cfg))
        )
        for phase in plan(cfg.method, cfg.steps, cfg.sft_steps)
    ]


TRL_OPTIM_NAMES = {"sgd": "sgd", "adamw": "adamw_torch", "rmsprop": "rmsprop"}


def _rows(examples: list[Example], phase: TrlPhase, cfg: RunConfig, seed: int) -> list[dict]:
    """The phase's training rows in native order: step s's B examples are rows [sB, (s+1)B)."""
    if phase.data == "both":  # native `phase_data`: every y⁺, then every y⁻
        data = [
            {"prompt": e.prompt, "completion": e.responses[kind]}
            for kind in ("chosen", "rejected")
            for e in examples
        ]
    elif phase.data == "onpolicy":
        data = [{"prompt": e.prompt} for e in examples]
    elif phase.trainer == "SFTTrainer":
        data = [{"prompt": e.prompt, "completion": e.chosen} for e in examples]
    else:
        data = [{"prompt": e.prompt, "chosen": e.chosen, "rejected": e.rejected} for e in examples]
    return [
        data[i]
        for s in range(phase.steps)
        for i in batch_indices(len(data), cfg.batch_size, s, seed)
    ]


def _batching(cfg: RunConfig) -> tuple[int, int]:
    """(per-device batch, gradient-accumulation steps) so that W ranks × accumulation × per
    device = B; a UserError if B does not split evenly."""
    ranks = int(os.environ.get("WORLD_SIZE", 1))
    micro = cfg.micro_batch_size or cfg.batch_size
    if cfg.batch_size % ranks or (cfg.batch_size // ranks) % min(micro, cfg.batch_size // ranks):
        raise UserError(
            f"--batch-size {cfg.batch_size} does not split into {ranks} processes of "
            f"equal micro-batches of {micro}"
        )
    per_rank = cfg.batch_size // ranks
    per_device = min(micro, per_rank)
    return per_device, per_rank // per_device


def _args(cls, cfg: RunConfig, phase: TrlPhase, out: Path, index: int, **extra):
    """The trainer config: native's optimiser, η (with --warmup-steps' ramp), clipping, seed and
    data order."""
    per_device, accumulation = _batching(cfg)
    device = pick_device(cfg.device)
    trl_only = {"gradient_checkpointing": False, "max_length": cfg.max_length}
    return cls(
        output_dir=str(out / f".trl-phase{index}"),
        max_steps=phase.steps,
        per_device_train_batch_size=per_device,
        gradient_accumulation_steps=accumulation,
        learning_rate=cfg.lr,
        # transformers' warmup ramps η·s/N (its first step at 0), native η·(s+1)/(N+1) (DPO repo)
        lr_scheduler_type="constant_with_warmup" if cfg.warmup_steps else "constant",
        warmup_steps=cfg.warmup_steps,
        optim=TRL_OPTIM_NAMES[cfg.optimizer],
        weight_decay=OPTIMISERS[cfg.optimizer].defaults.get("weight_decay", 0.0),
        max_grad_norm=cfg.max_grad_norm,
        logging_steps=1,
        report_to=[],
        save_strategy="no",
        seed=cfg.seed,
        train_sampling_strategy="sequential",
        bf16=pick_dtype(cfg.precision, device) == torch.bfloat16,
        use_cpu=device.type == "cpu",
        disable_tqdm=not is_main(),
        **trl_only,
        **phase.settings,
        **extra,
    )


def _sft_trainer(model, tokenizer, rows, cfg, phase, out, index):
    from trl import SFTConfig, SFTTrainer

    args = _args(SFTConfig, cfg, phase, out, index)
    return SFTTrainer(
        model=model, args=args, train_dataset=_dataset(rows, args), processing_class=tokenizer
    )


def _dpo_trainer(model, tokenizer, rows, cfg, phase, out, index):
    from trl import DPOConfig, DPOTrainer

    precompute = cfg.reference == "precomputed"
    args = _args(DPOConfig, cfg, phase, out, index, precompute_ref_log_probs=precompute)
    # π_ref is the model as the phase starts (precomputed: trl scores it before the first step)
    reference = None if precompute else copy.deepcopy(model).eval()
    return DPOTrainer(
        model=model,
        ref_model=reference,
        args=args,
        train_dataset=_dataset(rows, args),
        processing_class=tokenizer,
    )


def _cpo_trainer(model, tokenizer, rows, cfg, phase, out, index):
    from trl.experimental.cpo import CPOConfig, CPOTrainer

    args = _args(CPOConfig, cfg, phase, out, index)
    return CPOTrainer(
        model=model, args=args, train_dataset=_dataset(rows, args), processing_class=tokenizer
    )


class _BatchReward:
    """`reward(prompt, response)` as trl's reward_funcs(prompts, completions) → [float]."""

    __name__ = "reward"

    def __init__(self, reward):
        self.reward = reward

    def __call__(self, prompts, completions, **kwargs) -> list[float]:
        return [float(self.reward(p, c)) for p, c in zip(prompts, completions)]


def _online_trainer(model, tokenizer, rows, cfg, phase, out, index, reward):
    from trl.experimental.online_dpo import OnlineDPOConfig, OnlineDPOTrainer

    args = _args(OnlineDPOConfig, cfg, phase, out, index)
    reward = _BatchReward(reward)
    return OnlineDPOTrainer(
        model=model,
        ref_model=copy.deepcopy(model).eval(),
        reward_funcs=[reward],
        args=args,
        train_dataset=_dataset(rows, args),
        processing_class=tokenizer,
    )


TRAINERS = {  # the registry's trl trainer class → how to build it
    "SFTTrainer": _sft_trainer,
    "DPOTrainer": _dpo_trainer,
    "CPOTrainer": _cpo_trainer,
    "OnlineDPOTrainer": _online_trainer,
}


def _dataset(rows: list[dict], args):
    """The rows as a `datasets.Dataset`. Under several processes it is saved to the phase's
    folder first: trl's map/precompute caches then live in one shared folder (rank 0 writes,
    the others read), not in each process's private temporary directory."""
    from datasets import Dataset, load_from_disk

    if world()[1] == 1:
        return Dataset.from_list(rows)
    folder = Path(args.output_dir) / "data"
    if is_main():
        Dataset.from_list(rows).save_to_disk(str(folder))
    barrier()
    return load_from_disk(str(folder))

    return Dataset.from_list(rows)


def check_trl(cfg: RunConfig) -> None:
    """Reject what the trl backend cannot run, with a one-line reason, before a model loads."""
    try:
        import datasets  # noqa: F401
        import trl  # noqa: F401
    except ImportError:
        raise UserError("--backend trl needs the trl extra: pip install -e '.[trl]'") from None
    if cfg.method == "onpolicy-dpo":
        load_reward(cfg.reward, cfg.data)  # a missing or broken reward is a one-line error now
    if cfg.resume:
        raise UserError("--resume needs --backend native (trl runs write no checkpoint.pt)")
    if cfg.track_kernel or cfg.save_arrays or cfg.probe_offset:
        raise UserError("--track-kernel, --save-arrays and --probe-offset need --backend native")
    if cfg.neg_weight not in (None, 1.0):
        raise UserError("--neg-weight needs --backend native (trl's DPO has no such weight)")
    _batching(cfg)


def _callback(cfg: RunConfig, out: Path, probes: list[Example]) -> LearningDynamicsCallback:
    types = cfg.probe_types.split(",") if cfg.probe_types else None
    config = {**json.loads(cfg.to_json()), "checkpoint": False}  # what it writes: no checkpoint
    return LearningDynamicsCallback(
        probes,
        eval_every=cfg.eval_every,
        eval_at=cfg.evaluation_steps(),
        probe_types=types,
        out=out,
        truncation=truncation_of(cfg),
        batch_tokens=cfg.batch_tokens,
        config=config,
    )


def run_trl(cfg: RunConfig) -> Path:
    """Run `cfg` through trl → its run folder (config.json, metrics.csv, summary.json, as the
    native backend writes; the CLI draws the plots)."""
    check_trl(cfg)
    out = cfg.run_dir()
    if os.environ.get("RANK", "0") != "0":  # torchrun's other ranks: rank 0 holds the folder
        return _run_trl(cfg, out)
    with claim_run_dir(out, json.loads(cfg.to_json()), overwrite=cfg.overwrite, resumable=False):
        return _run_trl(cfg, out)


def _run_trl(cfg: RunConfig, out: Path) -> Path:
    opened = open_inputs(cfg, required=required_fields(cfg.method), say=is_main())
    examples, model, tokenizer = opened.examples, opened.model, opened.tokenizer
    callback = _callback(cfg, out, opened.probes)
    cuts = trl_cuts(tokenizer, examples, cfg.max_length)
    training = report_cuts("training pairs", cuts) if is_main() else None
    started, offset = time.perf_counter(), 0
    phases = trl_phases(cfg)
    callback.planned_steps = sum(p.steps for p in phases)
    for index, phase in enumerate(phases):
        rows = _rows(examples, phase, cfg, cfg.seed + index)
        callback.step_offset = offset
        build = TRAINERS[phase.trainer]
        if phase.data == "onpolicy":  # the reward may read the examples (pair-overlap)
            build = functools.partial(build, reward=load_reward(cfg.reward, cfg.data, examples))
        trainer = build(model, tokenizer, rows, cfg, phase, out, index)
        callback.attach(trainer)  # first, so that any report_to integration sees ld/ values
        quiet(trainer, sum(p.steps for p in phases), offset, cfg.method)
        trainer.train()
        model, offset = trainer.model, offset + phase.steps
    barrier()
    if is_main() and cfg.save_model:
        model.save_pretrained(out / "model")
        tokenizer.save_pretrained(out / "model")
    if is_main():
        for folder in out.glob(".trl-phase*"):  # trainer scratch: save_strategy="no", data
            shutil.rmtree(folder)
        ran = [p.phase.record() for p in phases]
        _finish(out, time.perf_counter() - started, offset, opened.loads, training, ran)
    barrier()
    return out


def trl_cuts(tokenizer, examples: list[Example], max_length: int) -> CutReport:
    """What trl's own truncation removes from the training data: it cuts prompt + response
    (+ EOS) to `max_length` from the end (keep_start), so a response loses its tokens beyond
    max_length, all of them when the prompt alone is longer. Counted with prompt and response
    tokenised apart (trl tokenises them joined: a token may differ at the boundary)."""
    report = CutReport()
    for ex in examples:
        prompt = len(encode(tokenizer, ex.prompt))
        report.prompts += 1
        report.prompts_cut += prompt > max_length
        for kind in ("chosen", "rejected"):
            if kind in ex.responses:
                response = len(encode(tokenizer, ex.responses[kind])) + 1  # + EOS
                report.add(kind, min(response, max(0, prompt + response - max_length)))
    return report


def _finish(
    out: Path, seconds: float, steps: int, loads: dict, training: dict, phases: list[dict]
) -> None:
    """Timings, the loads' reports, trl's training cuts and the phases run into summary.json,
    beside the callback's squeezing flag, mass report and probe cuts: the keys a native run
    writes (the phases as planned: the callback sees an SFT phase's trainer, not its data)."""
    path = out / SUMMARY
    summary = json.loads(path.read_text()) if path.is_file() else {}
    timing = {"wall_seconds": round(seconds, 2), "steps_run": steps, "steps": steps}
    inputs = {**loads, **summary.get("inputs", {})}
    inputs["truncation"] = {"training pairs": training, **inputs.get("truncation", {})}
    write_summary(out, {**timing, "inputs": inputs, "backend": "trl"}, phases)


class _Progress(TrainerCallback):
    """The run's progress in `common.progress`'s mode (bar, plain lines, off) over all phases,
    in place of transformers' bar and its per-step dicts on stdout."""

    def __init__(self, total: int, initial: int, desc: str):
        self.bar, self.total, self.initial, self.desc = None, total, initial, desc

    def on_train_begin(self, args, state, control, **kwargs):
        self.bar = progress(self.total, self.desc, initial=self.initial) if is_main() else Off()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.bar.set_postfix(loss=f"{float(logs['loss']):.4g}")

    def on_step_end(self, args, state, control, **kwargs):
        self.bar.update(1)

    def on_train_end(self, args, state, control, **kwargs):
        self.bar.close()


def quiet(trainer, total: int, initial: int, desc: str) -> None:
    """Replace transformers' progress bar / log printer (a dict per step on stdout) with
    `_Progress`."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(_Progress(total, initial, desc))
