"""The frozen configuration of every command (`run`, `logprobs`, `predict`, `influence`).

Every field carries its help string (`common.cliargs.option`); the CLI turns fields into flags
(`eval_every` → `--eval-every`) and `config.json` records the resolved values. Loss
hyper-parameters left at None take the registered loss's default (`simulator.LOSSES`). This
module imports no torch, so a bad flag fails before anything heavy loads.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from common.cliargs import SEED, Checked, positive_ints
from common.cliargs import option as _f
from common.errors import UserError
from common.progress import MODES as PROGRESS_MODES
from common.runs import data_name, run_dir

MODEL_HELP = (
    "embedded name (smollm2, tiny-neox, tiny-llama), a local HF folder or a cached hub name; "
    "never downloaded"
)
DATA_HELP = (
    "preference or probe data (prompt, chosen, rejected, …; trl's formats too) as JSONL, JSON, "
    "parquet or a datasets save_to_disk folder; hub:NAME[:SPLIT] (datasets' cache); hh-train / "
    "hh-test (the paper's HH probes, `data hh-probes`); or synthetic (the built-in task)"
)
STRICT_HELP = "stop at the first malformed line instead of skipping it"
LENGTH_HELP = "prompt + response tokens before truncation (paper: 512)"
PROMPT_LENGTH_HELP = "prompt tokens kept when truncating (paper: 256)"
DEVICE_HELP = "cuda, mps, cpu or auto (cuda if present)"
BETA_HELP = "β of dpo-like losses (dpo, ipo, simpo, rpo; default: the loss's)"
BOUNDARY_HELP = (
    "prompt/response boundary: `separate` tokenises each on its own (the paper's code), `trl` "
    "takes the response from where prompt and prompt+response tokenisations diverge (trl's way)"
)
SHARE_HELP = (
    "a prompt shorter than max_prompt_length leaves its unused tokens to the response (the "
    "paper's code keeps a fixed max_length − max_prompt_length for responses)"
)
PROBE_TYPES_HELP = "comma-separated probe types to track (default: all present)"
STEPS_HELP = "optimiser steps (extend-dpo, sft-dpo: the DPO phase)"
SFT_STEPS_HELP = (
    "extend-dpo / sft-dpo: SFT steps (on y⁺ and y⁻ / on y⁺ only) before DPO (default: --steps)"
)
BATCH_HELP = "examples per batch: pairs per optimiser step (run, align), prompts (generate)"
NEW_TOKENS_HELP = "tokens sampled per response at most (onpolicy-dpo, generate, align)"
TEMPERATURE_HELP = "sampling temperature T (0: greedy)"
TOP_P_HELP = "nucleus sampling: keep the smallest set of tokens with mass ≥ p"
PROMPT_SEED_HELP = "seed of the synthetic prompts sampled from (held out: training uses --seed)"
PROGRESS_HELP = (
    "bar: redrawn in place (a terminal); lines: a plain line every 5% with step, loss, elapsed "
    "and ETA (a log file); off; auto: bar on a terminal, else lines (TQDM_DISABLE turns bars off)"
)
OVERWRITE_HELP = (
    "replace the run already in the output folder (its files, references and checkpoints are "
    "removed first); without it, or --resume, such a folder is refused"
)
RESUME_HELP = "continue the run in the output folder (same configuration), reusing what it wrote"


@dataclass(frozen=True)
class Tokenization(Checked):
    """How every command turns (prompt, response) text into ids: `core.logprobs.Truncation`."""

    max_length: int = _f(512, LENGTH_HELP, low=2)
    max_prompt_length: int = _f(256, PROMPT_LENGTH_HELP, low=1)
    truncation_mode: str = _f(
        "keep_end",
        "which end of a long prompt survives truncation (paper, HH: keep_end)",
        choices=("keep_end", "keep_start"),
    )
    boundary: str = _f("separate", BOUNDARY_HELP, choices=("separate", "trl"))
    share_budget: bool = _f(False, SHARE_HELP)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_length <= self.max_prompt_length:  # a cut prompt keeps max_prompt_length
            raise UserError(
                f"--max-length {self.max_length} leaves no response token after "
                f"--max-prompt-length {self.max_prompt_length}: make it larger"
            )


@dataclass(frozen=True)
class RunConfig(Tokenization):
    preset: str | None = _f(
        None,
        "start from a named preset (`presets` lists them); flags given "
        "on the command line override it",
        type=str,
    )
    method: str = _f("dpo", "finetuning method (one of the methods listed below)")
    backend: str = _f(
        "native",
        "native: the exact, resumable trainer of the theory checks; trl: "
        "trl's trainers with the learning-dynamics callback (torchrun-able)",
        choices=("native", "trl"),
    )
    model: str = _f("smollm2", MODEL_HELP)
    data: str = _f("synthetic", DATA_HELP)
    probes: str | None = _f(
        None, "probe data to track, in any form --data takes (default: the training data)", type=str
    )
    limit: int | None = _f(None, "use only the first N valid training examples", type=int, low=1)
    probe_limit: int | None = _f(None, "track only the first N probe examples", type=int, low=1)
    probe_offset: int = _f(
        0,
        "skip the first K probe examples: with --probe-limit N the probes are examples "
        "K+1 … K+N (another selection of the training prompts)",
        low=0,
    )
    hold_out: int = _f(
        0,
        "train on all but the last N valid examples and probe those N, prompts the run never "
        "trains on (one whose prompt is also a training prompt is dropped, and the run says so); "
        "--probe-offset and --probe-limit then select among them",
        low=0,
    )
    probe_types: str | None = _f(None, PROBE_TYPES_HELP, type=str)
    strict: bool = _f(False, STRICT_HELP)
    steps: int = _f(20, STEPS_HELP, low=0)
    sft_steps: int | None = _f(None, SFT_STEPS_HELP, type=int, low=0)
    eval_every: int = _f(
        5, "evaluate probes every K optimiser steps (and at steps 0 and last)", low=1
    )
    eval_at: str | None = _f(
        None,
        "comma-separated optimiser steps to evaluate at as well (e.g. 20,40,60: an early phase "
        "read closely, then every --eval-every)",
        type=str,
    )
    batch_size: int = _f(4, BATCH_HELP, low=1)
    micro_batch_size: int | None = _f(
        None,
        "examples per forward pass; gradients accumulate over batch_size/micro_batch_size passes",
        type=int,
        low=1,
    )
    lr: float = _f(1e-5, "learning rate", low=0)
    optimizer: str = _f("rmsprop", "sgd (the theory), adamw, rmsprop (the paper's choice)")
    max_grad_norm: float = _f(1.0, "gradient clipping norm (0 disables; paper: 10)", low=0)
    warmup_steps: int = _f(
        0,
        "linear warmup of the learning rate over the first N optimiser "
        "steps of each phase, η·min(1, (s+1)/(N+1)) as the DPO repo (paper: 150)",
        low=0,
    )
    beta: float | None = _f(None, BETA_HELP, type=float, above=0)
    alpha: float | None = _f(None, "α of rpo's NLL term", type=float, low=0)
    gamma: float | None = _f(None, "γ, simpo's target margin", type=float, low=0)
    delta: float | None = _f(None, "δ, slic's hinge margin", type=float, low=0)
    lam: float | None = _f(None, "λ, slic's SFT weight", type=float, low=0)
    neg_weight: float | None = _f(
        None,
        "w, dpo's weight on the y⁻ log-ratio (1: DPO; 0: no negative gradient)",
        type=float,
        low=0,
    )
    reference: str = _f(
        "precomputed",
        "π_ref: `precomputed` log-probs or a frozen `copy` (onpolicy-dpo always uses a copy)",
        choices=("precomputed", "copy"),
    )
    reduction: str = _f(
        "sum",
        "sequence log-prob fed to the losses: `sum` (paper) or token `mean`",
        choices=("sum", "mean"),
    )
    reward: str | None = _f(
        None,
        "onpolicy-dpo reward: pair-overlap (the sample's word F1 with the example's y⁺ minus with "
        "its y⁻), or module:function(prompt, response) -> float (synthetic data: the ground truth)",
        type=str,
    )
    max_new_tokens: int = _f(24, NEW_TOKENS_HELP, low=1)
    batch_tokens: int = _f(4096, "padded tokens per scoring batch (length-bucketed)", low=1)
    precision: str = _f(
        "auto",
        "fp32, bf16 (autocast) or auto (bf16 on capable cuda)",
        choices=("auto", "fp32", "bf16"),
    )
    device: str = _f("auto", DEVICE_HELP)
    compile: str = _f(
        "auto",
        "torch.compile the model's body for training and scoring: on, off, or auto (on a cuda "
        "card with triton, off on cpu)",
        choices=("auto", "on", "off"),
    )
    seed: int = _f(0, "seed for model init, data order and sampling", **SEED)
    out: str | None = _f(
        None, "run folder (default: runs/<preset>, else runs/<method>-<model>-<data>)", type=str
    )
    resume: bool = _f(False, RESUME_HELP)
    overwrite: bool = _f(False, OVERWRITE_HELP)
    save_arrays: bool = _f(False, "also write per-example statistics as arrays/step_*.npz")
    checkpoint: bool = _f(True, "save a checkpoint at every evaluation (needed by --resume)")
    track_kernel: int = _f(
        0,
        "track the eNTK of the first K training examples and their "
        "prompts' probes (--probe-types, if given): relative influence at every "
        "evaluation (kernel.csv) and trajectory predictions over "
        "--track-intervals (trajectory.csv); 0 = off",
        low=0,
    )
    track_intervals: str = _f(
        "1,4,16,64",
        "comma-separated interval lengths S (optimiser steps) "
        "for --track-kernel's trajectory predictions (empty: influence only)",
    )
    save_model: bool = _f(
        False, "save the final policy as a HF folder <run>/model (loads back with --model PATH)"
    )
    json: bool = _f(False, "print summary.json as one JSON object (instead of the report)")
    progress: str = _f("auto", PROGRESS_HELP, choices=PROGRESS_MODES)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.evaluation_steps()
        self.trajectory_intervals()

    def evaluation_steps(self) -> tuple[int, ...]:
        """The steps of --eval-at (evaluations besides every --eval-every, step 0 and the last)."""
        return positive_ints(self.eval_at, "--eval-at")

    def trajectory_intervals(self) -> tuple[int, ...]:
        """The interval lengths S of --track-intervals (--track-kernel's trajectory predictions)."""
        return positive_ints(self.track_intervals, "--track-intervals")

    def run_dir(self) -> Path:
        if self.preset:
            return run_dir(self.out, self.preset)
        return run_dir(self.out, self.method, self.model, data_name(self.data))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


@dataclass(frozen=True)
class ScoreConfig(Tokenization):
    """`logprobs`: score a probe file once: the mean summed log-prob per probe type (y* too)."""

    probes: str = _f(
        None,
        "probe data in the paper's format (prompt + response fields), in any form --data takes",
        type=str,
        required=True,
    )
    model: str = _f("smollm2", MODEL_HELP)
    limit: int | None = _f(None, "use only the first N valid examples", type=int, low=1)
    strict: bool = _f(False, STRICT_HELP)
    seed: int = _f(0, "model init (tiny models)", **SEED)
    batch_tokens: int = _f(4096, "padded tokens per scoring batch (length-bucketed)", low=1)
    device: str = _f("auto", DEVICE_HELP)
    json: bool = _f(False, "print one JSON object: probe type → mean summed log-prob")


@dataclass(frozen=True)
class PredictConfig(Tokenization):
    """`predict`: K updates, each one real fp32 step from the same θ₀, against the first-order
    prediction for every probe response of the update's prompt."""

    model: str = _f("tiny-neox", MODEL_HELP)
    data: str = _f("synthetic", DATA_HELP)
    loss: str = _f("sft", "the update's loss (a loss of `simulator.LOSSES`)")
    optimizer: str = _f(
        "sgd", "fresh optimiser sgd, rmsprop or adamw: its first step (adamw's is ≈ −η sign(g))"
    )
    lr: float = _f(1e-3, "learning rate η", above=0)
    updates: int = _f(8, "K updates (the first K examples), each one step from the same θ₀", low=1)
    limit: int | None = _f(None, "use only the first N valid examples (caps K)", type=int, low=1)
    lr_sweep: bool = _f(False, "also step with η × (1/8 … 4) and report the error's slope in η")
    probe_types: str | None = _f(None, PROBE_TYPES_HELP, type=str)
    beta: float | None = _f(None, BETA_HELP, type=float, above=0)
    factors: str = _f(
        "unembed",
        "kernel subset for the factor report: unembed (closed form), all, last:K (Hutchinson "
        "estimates) or none",
    )
    kernel_probes: int = _f(2, "Rademacher vectors per kernel summary (subsets but unembed)", low=1)
    strict: bool = _f(False, STRICT_HELP)
    seed: int = _f(0, "model init (tiny models) and kernel probes", **SEED)
    device: str = _f("auto", DEVICE_HELP)  # the model is fp32 everywhere
    out: str | None = _f(
        None, "output folder (default runs/predict-<loss>-<optimizer>-<model>-<data>)", type=str
    )
    overwrite: bool = _f(False, OVERWRITE_HELP)
    json: bool = _f(False, "print one JSON object (pearson_r, sign_agreement, …)")

    def run_dir(self) -> Path:
        return run_dir(
            self.out, "predict", self.loss, self.optimizer, self.model, data_name(self.data)
        )


@dataclass(frozen=True)
class InfluenceConfig(Tokenization):
    """`influence`: the first-order influence of one step on each of N examples."""

    model: str = _f("tiny-neox", MODEL_HELP)
    data: str = _f("synthetic", DATA_HELP)
    loss: str = _f("sft", "the update's loss (a loss of `simulator.LOSSES`)")
    train_types: str = _f(
        "chosen,rejected", "single-response losses: comma-separated response types trained on"
    )
    lr: float = _f(1e-3, "learning rate η (a scale)", above=0)
    limit: int = _f(8, "N examples, each one update", low=1)
    beta: float | None = _f(None, BETA_HELP, type=float, above=0)
    strict: bool = _f(False, STRICT_HELP)
    seed: int = _f(0, "model init (tiny models)", **SEED)
    device: str = _f("auto", DEVICE_HELP)
    out: str | None = _f(
        None, "output folder (default runs/influence-<loss>-<model>-<data>)", type=str
    )
    overwrite: bool = _f(False, OVERWRITE_HELP)

    def run_dir(self) -> Path:
        return run_dir(self.out, "influence", self.loss, self.model, data_name(self.data))


@dataclass(frozen=True)
class DriftConfig:
    """`drift`: the kernel-drift and trajectory tables of a run recorded with --track-kernel."""

    run: str = _f(None, "a run folder written by `run --track-kernel K`", type=str, required=True)
    json: bool = _f(False, "print one JSON object (the tables of drift.json)")


@dataclass(frozen=True)
class TrendsConfig(Checked):
    """`trends`: the paper's multi-epoch signatures checked on runs, finished or still going."""

    runs: str = _f(
        None,
        "a run folder, or a folder of runs (one per method: sft, dpo, …)",
        type=str,
        required=True,
    )
    method: str | None = _f(
        None, "the method of a run whose config.json names none (sft, dpo, …)", type=str
    )
    until: int | None = _f(
        None,
        "read each run only through this step, as if it had stopped there: how many steps a "
        "verdict needs, from one long run",
        type=int,
        low=1,
    )
    json: bool = _f(False, "print one JSON list, a row per signature")
    markdown: bool = _f(
        False, "print the rows as a Markdown table (the trend table of docs/findings.md)"
    )


@dataclass(frozen=True)
class ResultsConfig(Checked):
    """`results`: the paper's claims at a glance: the simulator, LM runs, tests (`runs.results`)."""

    cpu_runs: list | None = _f(
        None,
        "SmolLM2 CPU runs: run folders or folders of runs, read in order; a method's first run "
        "found is used (several: --cpu-runs A B or --cpu-runs A --cpu-runs B)",
        type=str,
        nargs="+",
        action="extend",
    )
    reference_runs: str | None = _f(
        None, "the GPU reference runs: a run folder or a folder of runs", type=str
    )
    simulator_seeds: int = _f(4, "run the simulator at seeds 0 … N−1 (the tests use 0–3)", low=1)
    write: str | None = _f(
        None,
        "replace the table between the results markers of this Markdown file (README.md) "
        "instead of printing it",
        type=str,
    )


@dataclass(frozen=True)
class PresetsConfig:
    """`presets`: the named run settings, one line each (or every value with --verbose)."""

    verbose: bool = _f(False, "every value of every preset, with the paper's setting beside it")


@dataclass(frozen=True)
class GenerateConfig(Checked):
    """`generate`: sample responses in left-padded batches (resumable JSONL), report diversity."""

    model: str = _f("smollm2", MODEL_HELP)
    prompts: str = _f(
        "synthetic",
        "`synthetic`, a JSONL file with a `prompt` field per line, or "
        "a text file with one prompt per line",
    )
    out: str | None = _f(None, "output folder (default runs/generate-<model>-<prompts>)", type=str)
    resume: bool = _f(False, RESUME_HELP)
    overwrite: bool = _f(False, OVERWRITE_HELP)
    limit: int | None = _f(
        None, "only the first N prompts (synthetic: default 64)", type=int, low=1
    )
    prompt_seed: int = _f(1000, PROMPT_SEED_HELP, **SEED)
    max_new_tokens: int = _f(24, NEW_TOKENS_HELP, low=1)
    temperature: float = _f(1.0, TEMPERATURE_HELP, low=0)
    top_p: float = _f(1.0, TOP_P_HELP, above=0, high=1)
    batch_size: int = _f(16, BATCH_HELP, low=1)
    max_prompt_length: int = _f(256, PROMPT_LENGTH_HELP, low=1)
    repeat_n: int = _f(3, "n of the repeated-n-gram fraction (words)", low=1)
    seed: int = _f(0, "sampling seed (and tiny models' init)", **SEED)
    device: str = _f("auto", DEVICE_HELP)
    strict: bool = _f(False, STRICT_HELP)
    json: bool = _f(False, "print the diversity summary as one JSON object")
    progress: str = _f("auto", PROGRESS_HELP, choices=PROGRESS_MODES)

    def run_dir(self) -> Path:
        return run_dir(self.out, "generate", self.model, data_name(self.prompts))

    def settings(self) -> dict:
        """What determines the samples: a resumed run must match it."""
        keep = (
            "model",
            "prompts",
            "prompt_seed",
            "max_new_tokens",
            "temperature",
            "top_p",
            "batch_size",
            "max_prompt_length",
            "seed",
        )
        return {k: getattr(self, k) for k in keep}


@dataclass(frozen=True)
class WinrateConfig(Checked):
    """`winrate`: A's pairwise win rate over B under a judge, both orders, 95% interval."""

    a: str = _f(
        None, "JSONL of responses A (`generate` output: prompt, response)", type=str, required=True
    )
    b: str = _f(None, "JSONL of responses B, same prompts", type=str, required=True)
    judge: str = _f(
        "synthetic",
        "synthetic, reward:module:function, rm:PATH or "
        "openai:BASE_URL (an OpenAI-compatible endpoint)",
    )
    judge_model: str = _f("gpt-3.5-turbo", "openai judge: the chat model (paper: gpt-3.5-turbo)")
    timeout: float = _f(30.0, "openai judge: seconds per request before it is retried", above=0)
    retries: int = _f(
        4, "openai judge: retries after a timeout, connection error, 429 or 5xx", low=0
    )
    backoff: float = _f(1.0, "openai judge: seconds before the first retry (doubling after)", low=0)
    requests_per_second: float = _f(2.0, "openai judge: rate limit", above=0)
    interval: str = _f(
        "wilson", "95% interval: wilson, or bootstrap over prompts", choices=("wilson", "bootstrap")
    )
    bootstrap_rounds: int = _f(2000, "bootstrap resamples", low=1)
    max_chars: int = _f(
        2000, "skip a pair when a response is longer (paper: 2,000 characters)", low=1
    )
    limit: int | None = _f(None, "judge only the first N paired prompts", type=int, low=1)
    seed: int = _f(0, "seed of the bootstrap", **SEED)
    out: str | None = _f(None, "output folder (default runs/winrate-<A>-vs-<B>)", type=str)
    resume: bool = _f(False, RESUME_HELP)
    overwrite: bool = _f(False, OVERWRITE_HELP)
    json: bool = _f(False, "print one JSON summary object instead of a table")
    progress: str = _f("auto", PROGRESS_HELP, choices=PROGRESS_MODES)

    def run_dir(self) -> Path:
        return run_dir(self.out, "winrate", Path(self.a).stem, "vs", Path(self.b).stem)


@dataclass(frozen=True)
class AlignConfig(Checked):
    """`align`: extension (SFT on y⁺ and y⁻, then DPO) against baseline (SFT on y⁺, then DPO)
    over seeds and DPO negative weights, judged by the synthetic task's reward."""

    model: str = _f("tiny-neox", MODEL_HELP)
    seeds: str = _f("0,1,2", "comma-separated seeds (model init, training data, sampling)")
    neg_weights: str = _f("1", "comma-separated weights w of DPO's y⁻ term (the sweep: 0,0.5,1)")
    limit: int = _f(512, "synthetic training examples (pairs)", low=1)
    sft_steps: int = _f(800, SFT_STEPS_HELP, low=1)
    steps: int = _f(100, STEPS_HELP, low=1)
    batch_size: int = _f(16, BATCH_HELP, low=1)
    lr: float = _f(3e-3, "learning rate, both stages", low=0)
    optimizer: str = _f("adamw", "sgd, adamw or rmsprop")
    beta: float = _f(0.1, BETA_HELP, above=0)
    max_length: int = _f(512, LENGTH_HELP, low=2)
    eval_prompts: int = _f(128, "held-out synthetic prompts generated per model", low=1)
    prompt_seed: int = _f(1000, PROMPT_SEED_HELP, **SEED)
    max_new_tokens: int = _f(16, NEW_TOKENS_HELP, low=1)
    temperature: float = _f(1.0, TEMPERATURE_HELP, low=0)
    top_p: float = _f(1.0, TOP_P_HELP, above=0, high=1)
    gen_batch_size: int = _f(32, "prompts per generation batch", low=1)
    device: str = _f("auto", DEVICE_HELP)
    out: str | None = _f(None, "output folder (default runs/align-<model>)", type=str)
    resume: bool = _f(False, RESUME_HELP)
    overwrite: bool = _f(False, OVERWRITE_HELP)
    json: bool = _f(False, "print summary.json instead of the tables")
    progress: str = _f("auto", PROGRESS_HELP, choices=PROGRESS_MODES)

    def run_dir(self) -> Path:
        return run_dir(self.out, "align", self.model)

    def seed_list(self) -> list[int]:
        return [int(s) for s in self.seeds.split(",")]

    def weight_list(self) -> list[float]:
        return [float(w) for w in self.neg_weights.split(",")]


@dataclass(frozen=True)
class DataConfig:
    """`data`: fetch a named data set once into the user cache (`sources.hh`)."""

    name: str = _f(
        None,
        "hh-probes: the paper's HH probe files (500 train, 500 test examples) from the authors' "
        "release, checked against their SHA-256; then `--data hh-train`, `--probes hh-test`",
        positional=True,
        choices=("hh-probes",),
    )
    base_url: str | None = _f(
        None,
        "a mirror of the release (default: raw.githubusercontent.com, Joshua-Ren/"
        "Learning_dynamics_LLM at commit 08e3bd2)",
        type=str,
    )
