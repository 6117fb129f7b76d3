"""`python -m simulator …`: the simulator's command line (the only place with I/O).

Every user mistake ends in one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import sys
import time
from dataclasses import dataclass

import numpy as np

from common.cliargs import (
    SEED,
    Checked,
    add_config_args,
    at_least,
    config_from_args,
    option,
    positive,
)
from common.errors import OneLineParser, UserError, run_cli
from common.runs import METRICS, SUMMARY, MetricsLog, claim_run_dir, run_dir, write_json

from ..losses import LOSSES
from ..metrics import final_values, trend_spread, trends
from ..problems import random_problem
from ..squeeze import TARGETS, negative_step, target_label, with_probability, zipf_logits
from ..step import take_step
from .runs import EXPERIMENTS, run_experiment, with_overrides

PROG = "python -m simulator"
JSON_HELP = "print one JSON object"


@dataclass(frozen=True)
class DecomposeConfig(Checked):
    """`decompose`: one step on input 0 of a random problem, actual vs predicted per input."""

    loss: str = option("sft", "the loss to step on", choices=tuple(sorted(LOSSES)))
    lr: float = option(1e-3, "step size η", type=positive(float))
    seed: int = option(0, "seed of the random problem", **SEED)
    vocab: int = option(10, "V, labels per input", type=at_least(2))
    inputs: int = option(8, "N, inputs (input 0 updates)", type=at_least(1))
    json: bool = option(False, JSON_HELP)


@dataclass(frozen=True)
class SqueezeConfig(Checked):
    """`squeeze`: a negative gradient on one label of a Zipf π under K = c·I."""

    target: str = option("valley", "where ȳ sits in π", choices=TARGETS)
    peakiness: float = option(2.0, "π_i ∝ (i+1)^-peakiness; 0 is flat", low=0)
    vocab: int = option(50, "V", type=at_least(2))
    lr: float = option(1.0, "step size s = ηc (K = c·I)", type=positive(float))
    target_prob: float | None = option(
        None, "set π(ȳ) to this value first (default: π as drawn)", type=float, above=0, below=1
    )
    json: bool = option(False, JSON_HELP)


@dataclass(frozen=True)
class ListConfig(Checked):
    """`list`: the finetuning experiments, one line each."""

    json: bool = option(False, JSON_HELP)


def seed_list(text: str) -> tuple[int, ...]:
    """A flag type: seeds as comma-separated integers and ranges, `0-3`, `0,2,5`, `0-3,7`;
    each seed once, in the order given."""
    seeds: list[int] = []
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        try:
            first, last = int(low), int(high if dash else low)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected seeds like 0-3 or 0,2,5 (non-negative integers), got {text!r}"
            ) from None
        if last < first:
            raise argparse.ArgumentTypeError(f"empty seed range {part.strip()!r} in {text!r}")
        seeds.extend(range(first, last + 1))
    if len(set(seeds)) < len(seeds):
        raise argparse.ArgumentTypeError(f"a seed is repeated in {text!r}")
    return tuple(seeds)


@dataclass(frozen=True)
class SimulatorRunConfig(Checked):
    """`run`: one named experiment; settings left unset keep the experiment's own."""

    experiment: str = option(
        None,
        f"an experiment: {', '.join(EXPERIMENTS)} (`list` says what each shows)",
        positional=True,
    )
    steps: int | None = option(
        None, "steps of the traced stage (default: the experiment's)", type=at_least(1)
    )
    out: str | None = option(None, "output folder (default runs/simulator-<experiment>/)", type=str)
    seed: int = option(0, "seed of the world and the samples", **SEED)
    seeds: tuple | None = option(
        None,
        "run each of these seeds (e.g. 0-3 or 0,2,5; replaces --seed) into <out>/seed-S/ and "
        "report each trend over them: mean ± sd, min..max, and how many seeds agree",
        type=seed_list,
    )
    lr: float | None = option(
        None, "step size η of the run (default: the experiment's)", type=positive(float)
    )
    beta: float | None = option(
        None, "β of dpo/ipo/simpo/rpo (default: the experiment's)", type=positive(float)
    )
    pre_sft_steps: int | None = option(
        None, "SFT steps before the run (default: the experiment's)", type=at_least(0)
    )
    optimizer: str | None = option(
        None,
        "sgd or rmsprop (default: the experiment's)",
        type=str,
        choices=("sgd", "rmsprop"),
    )
    vocab: int | None = option(
        None, "V of the probe world (default: the experiment's)", type=at_least(2)
    )
    length: int | None = option(
        None, "response length L (default: the experiment's)", type=at_least(4)
    )
    overwrite: bool = option(False, "replace the run already in the output folder")
    json: bool = option(False, JSON_HELP)


def _decompose(args) -> dict:
    if args.inputs < 1:
        raise UserError("--inputs must be ≥ 1")
    rng = np.random.default_rng(args.seed)
    problem = random_problem(rng, args.loss, n_inputs=args.inputs, vocab=args.vocab)
    step = take_step(problem.z, problem.k, args.loss, problem.batch, args.lr, problem.ref_z)
    return {
        "loss": args.loss,
        "lr": args.lr,
        "seed": args.seed,
        "vocab": args.vocab,
        "inputs": args.inputs,
        "loss_value": step.loss,
        "relative_error": step.relative_error,
        "actual": step.actual.tolist(),
        "predicted": step.predicted.tolist(),
    }


def _print_decompose(out: dict) -> None:
    actual, predicted = np.array(out["actual"]), np.array(out["predicted"])
    print(
        f"one {out['loss']} step, lr={out['lr']:g}, on input 0 of {out['inputs']} (V={out['vocab']})"
    )
    print(
        f"{'input':>5} {'k-row':>6} {'‖Δ log π‖ actual':>18} {'predicted −ηAKG':>17} {'rel.err':>9}"
    )
    for o in range(actual.shape[0]):
        a, p = actual[o], predicted[o]
        err = np.linalg.norm(a - p) / max(np.linalg.norm(a), 1e-300)
        print(
            f"{o:>5} {'u' if o == 0 else '':>6} {np.linalg.norm(a):>18.3e} {np.linalg.norm(p):>17.3e} {err:>9.2e}"
        )
    print(
        f"relative error over all inputs and labels: {out['relative_error']:.3e}  (O(η): halves with lr)"
    )


def _squeeze(args) -> dict:
    z = zipf_logits(args.vocab, args.peakiness)
    ybar = target_label(args.vocab, args.target)
    if args.target_prob is not None:
        z = with_probability(z, ybar, args.target_prob)
    return negative_step(z, ybar, args.lr).as_dict()


def _print_squeeze(out: dict) -> None:
    print(f"negative gradient on label {out['target']} of V={out['vocab']}")
    print(f"  π(ȳ):      {out['target_prob_before']:.4g} → {out['target_prob_after']:.4g}")
    print(
        f"  argmax {out['argmax']}:  {out['argmax_prob_before']:.4g} → {out['argmax_prob_after']:.4g}"
    )
    print(
        f"  mass outside the argmax: {out['mass_outside_argmax_before']:.4g} → "
        f"{out['mass_outside_argmax_after']:.4g}"
    )
    print(
        f"  labels that rose: {out['n_increased']} {out['increased'][:20]}; fell: {out['n_decreased']}"
    )


def _list(args) -> dict:
    return {name: cfg.summary for name, cfg in EXPERIMENTS.items()}


def _print_list(out: dict) -> None:
    width = max(map(len, out))
    for name, summary in out.items():
        print(f"{name:<{width}}  {summary}")


def _run(args) -> dict:
    if args.experiment not in EXPERIMENTS:
        raise UserError(f"unknown experiment {args.experiment!r}; known: {', '.join(EXPERIMENTS)}")
    settings = {
        "steps": args.steps,
        "lr": args.lr,
        "beta": args.beta,
        "pre_sft_steps": args.pre_sft_steps,
        "optimizer": args.optimizer,
        "vocab": args.vocab,
        "length": args.length,
    }
    cfg = with_overrides(
        EXPERIMENTS[args.experiment], **{k: v for k, v in settings.items() if v is not None}
    )
    cfg.check()
    out_dir = run_dir(args.out, "simulator", cfg.name)
    if args.seeds is None:
        return _claimed_run(cfg, args.seed, out_dir, args.overwrite)
    runs = {
        seed: _claimed_run(cfg, seed, out_dir / f"seed-{seed}", args.overwrite)
        for seed in args.seeds
    }
    return {
        "experiment": cfg.name,
        "seeds": list(args.seeds),
        "spread": trend_spread([r["trends"] for r in runs.values()]),
        "runs": {str(seed): r for seed, r in runs.items()},
    }


def _claimed_run(cfg, seed: int, out_dir: pathlib.Path, overwrite: bool) -> dict:
    """Take `out_dir` (refused when it holds a run, unless --overwrite) and run `cfg` at `seed`
    into it."""
    config = {"kind": "simulator", "seed": seed, **dataclasses.asdict(cfg)}
    with claim_run_dir(out_dir, config, overwrite=overwrite, resumable=False):
        return _write_run(cfg, seed, out_dir)


def _write_run(cfg, seed: int, out_dir: pathlib.Path) -> dict:
    """Run, appending each evaluation to metrics.csv as it is measured (a killed run keeps what
    it measured), then summary.json (what `--json` prints)."""
    print(f"simulator: running {cfg.name} ({cfg.steps} steps, seed {seed})…", file=sys.stderr)
    start = time.perf_counter()
    try:
        log = MetricsLog(out_dir / METRICS)
        append = lambda rows: log.append(rows[0][0], rows[0][1], [r[2:] for r in rows])
        trace = run_experiment(cfg, np.random.default_rng(seed), append)
        seconds = time.perf_counter() - start
        summary = {
            "experiment": cfg.name,
            "trends": trends(trace),
            "squeeze": final_values(trace, "squeeze"),
            "world": final_values(trace, "world"),
        }
        write_json(out_dir / SUMMARY, summary)
    except OSError as err:
        raise UserError(f"cannot write {out_dir}: {err.strerror or err}") from err
    print(f"simulator: {seconds:.1f} s; wrote {out_dir / METRICS}", file=sys.stderr)
    return summary


def _print_run(out: dict) -> None:
    if "spread" in out:
        _print_spread(out)
        return
    print(f"{out['experiment']}: mean sequence log-prob per probe type")
    print(f"{'probe type':<20} {'start':>9} {'max':>9} {'min':>9} {'end':>9}  trend")
    for name, t in out["trends"].items():
        arrow = "up" if t["end"] > t["start"] else "down"
        print(
            f"{name:<20} {t['start']:>9.2f} {t['max']:>9.2f} {t['min']:>9.2f} {t['end']:>9.2f}  {arrow}"
        )


def _print_spread(out: dict) -> None:
    n = len(out["seeds"])
    seeds = ",".join(map(str, out["seeds"]))
    print(f"{out['experiment']}: mean sequence log-prob per probe type, seeds {seeds}")
    print("mean ± sd over the seeds (end − start also min..max); the counts are seeds that agree")
    head = f"{'probe type':<20} {'start':>13} {'max':>13} {'end':>13} {'end − start':>26}"
    print(f"{head}  {'falls':>5} {'peaks':>5} {'most':>5}")
    for name, t in out["spread"].items():
        cells = " ".join(f"{_cell(t[k]):>13}" for k in ("start", "max", "end"))
        change = t["change"]
        cells += f" {_cell(change)} [{change['min']:+.1f}..{change['max']:+.1f}]".rjust(27)
        counts = " ".join(f"{t[k]}/{n}".rjust(5) for k in ("falls", "peaks", "falls_most"))
        print(f"{name:<20} {cells}  {counts}")
    print("falls: end < start; peaks: max > start; most: the largest fall of all types")


def _cell(s: dict) -> str:
    """mean ± sd of one statistic over the seeds (the mean alone for one seed)."""
    return f"{s['mean']:.1f}" + ("" if s["sd"] is None else f" ± {s['sd']:.1f}")


COMMANDS = {  # name: (config, compute, show, help)
    "decompose": (
        DecomposeConfig,
        _decompose,
        _print_decompose,
        "one step: actual vs predicted Δ log π = −η A K G",
    ),
    "squeeze": (
        SqueezeConfig,
        _squeeze,
        _print_squeeze,
        "a negative gradient on one label: which labels rise",
    ),
    "list": (ListConfig, _list, _print_list, "the finetuning experiments, one line each"),
    "run": (
        SimulatorRunConfig,
        _run,
        _print_run,
        "run an experiment: trend table, runs/simulator-<name>/metrics.csv",
    ),
}


EXAMPLES = {  # the end of each command's --help
    "decompose": ("decompose --loss dpo --vocab 10 --inputs 8", "decompose --loss sft --json"),
    "squeeze": ("squeeze --vocab 50 --lr 1.0",),
    "list": ("list",),
    "run": ("run sft", "run dpo --steps 200 --seed 1 --json"),
}


def build_parser() -> argparse.ArgumentParser:
    """One subcommand per `COMMANDS` entry, its flags generated from its config."""
    parser = OneLineParser(
        prog=PROG,
        description=__doc__.splitlines()[0],
        epilog=f"examples:\n  {PROG} list\n  {PROG} run sft\n  {PROG} run --help",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (config, _, _, help_text) in COMMANDS.items():
        examples = "\n".join(f"  {PROG} {e}" for e in EXAMPLES[name])
        add_config_args(
            sub.add_parser(
                name, help=help_text, description=help_text, epilog=f"examples:\n{examples}"
            ),
            config,
        )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse and dispatch; a user's mistake (a `UserError`, or a `ValueError` from a config check)
    becomes one line on stderr with exit status 2."""

    def body() -> None:
        args = build_parser().parse_args(argv)
        config, compute, show, _ = COMMANDS[args.command]
        args = config_from_args(config, args)
        try:
            out = compute(args)
        except ValueError as err:
            raise UserError(str(err)) from err
        if args.json:
            print(json.dumps(out))
        else:
            show(out)

    return run_cli(PROG, body)
