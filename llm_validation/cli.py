"""`python -m llm_validation <command>`: the CLI on top of the layers.

Each command is a frozen config in `config` (its fields make the flags, `common.cliargs`), the
`main(cfg)` of a module in a room (`training`, `measure`, `alignment`, `trl`), and a report
printed here. Bad input raises `UserError`, reported once by `common.errors.run_cli`: one line
on stderr, exit status 2, no traceback. Commands write data only; the plots of a run folder are
drawn here by `figures.runs.plots` when matplotlib is installed.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from common.cliargs import add_config_args, config_from_args
from common.errors import OneLineParser, UserError, run_cli
from common.progress import set_mode
from common.runs import METRICS, SUMMARY, load_metrics
from llm_validation.config import (
    AlignConfig,
    DataConfig,
    DriftConfig,
    GenerateConfig,
    InfluenceConfig,
    PredictConfig,
    PresetsConfig,
    ResultsConfig,
    RunConfig,
    ScoreConfig,
    TrendsConfig,
    WinrateConfig,
)

PROG = "python -m llm_validation"


def draw(folder: Path) -> None:
    """The run folder's plots, or one line saying why there are none."""
    if importlib.util.find_spec("matplotlib") is None:
        print(f"{PROG}: matplotlib not installed: no plots in {folder}", file=sys.stderr)
        return
    from figures.runs.plots import draw_run

    for path in draw_run(folder):
        print(f"drew {path}", file=sys.stderr)


def movement(csv_path: Path) -> str:
    """'chosen −31.2 → −25.0, …': mean summed log-prob at the first and last evaluation."""
    rows = [r for r in load_metrics(csv_path) if r[3] == "logp"]
    if not rows:
        return f"no logp rows in {csv_path}"
    first, last = rows[0][0], rows[-1][0]
    value = {(step, kind): v for step, _, kind, _, v in rows}
    kinds = [k for k in ("chosen", "rejected", "y_star") if (first, k) in value]
    parts = [f"{k} {value[first, k]:.2f} → {value[last, k]:.2f}" for k in kinds]
    return f"logp from step {first} to {last}: " + ", ".join(parts)


def run(cfg: RunConfig) -> None:
    from llm_validation.backends import main
    from llm_validation.training.distributed import close, is_main

    started = time.perf_counter()
    try:
        out = main(cfg)
        if not is_main():  # under torchrun every rank trains; rank 0 reports and draws, once
            return
        if cfg.json:
            print(json.dumps(json.loads((out / SUMMARY).read_text())))
            draw(out)
            return
        print(movement(out / METRICS))
        draw(out)
        print(f"wrote {out}/ in {time.perf_counter() - started:.1f} s")
    finally:
        close()


def logprobs(cfg: ScoreConfig) -> None:
    import numpy as np

    from llm_validation.measure.score import main

    arrays = main(cfg)
    means = {kind: float(np.mean(stats["logp"])) for kind, stats in arrays.items()}
    if cfg.json:
        print(json.dumps(means))
        return
    print(f"{'probe type':<20} {'n':>4} {'mean log π(y|x)':>16} {'per token':>10}")
    for kind, stats in arrays.items():
        print(
            f"{kind:<20} {len(stats['logp']):>4} {means[kind]:>16.2f} "
            f"{float(np.mean(stats['logp_token'])):>10.3f}"
        )


def predict(cfg: PredictConfig) -> None:
    from llm_validation.measure.predict import ADAMW_NOTE, main

    summary = main(cfg)
    draw(cfg.run_dir())
    if cfg.json:
        print(json.dumps(summary))
        return
    print(
        f"{'probe type':<20} {'n':>4} {'mean pred':>10} {'mean act':>10} {'r':>8} {'sign':>6} "
        f"{'rel.err':>8}"
    )
    for kind, s in {**summary["per_type"], "all": summary}.items():
        print(
            f"{kind:<20} {s['n']:>4} {s['mean_predicted']:>+10.3e} {s['mean_actual']:>+10.3e} "
            f"{s['pearson_r']:>8.4f} {s['sign_agreement']:>6.3f} {s['relative_error']:>8.4f}"
        )
    print(
        f"noise floor {summary['noise_floor']:.2e}; sign agreement above it "
        f"{summary['sign_agreement_above_floor']:.3f}; cost per probe "
        f"{summary['cost_per_probe_vs_forward_backward']:.2f}× one forward+backward"
    )
    if "lr_sweep" in summary:
        sweep = summary["lr_sweep"]
        for lr, err in zip(sweep["lr"], sweep["relative_error"]):
            print(f"η = {lr:.3g}: relative error {err:.4f}")
        print(
            f"slope of log error vs log η: {sweep['slope_log_error_vs_log_lr']:.2f} (between "
            f"neighbours: {', '.join(f'{x:.2f}' for x in sweep['local_slopes'])})"
        )
    if cfg.optimizer == "adamw":
        print(ADAMW_NOTE)
    print(f"wrote {cfg.run_dir()}/")


def influence(cfg: InfluenceConfig) -> None:
    from llm_validation.measure.influence import main

    result = main(cfg)
    draw(cfg.run_dir())
    width = max(len(c) for c in result["columns"])
    print(f"total influence I[r, c] (first order, η = {cfg.lr:g}); rows trained on:")
    for i, r in enumerate(result["rows"]):
        print(f"  train {r}")
        for j, c in enumerate(result["columns"]):
            print(f"    {c:<{width}} {result['total'][i][j]:+.4e}")
    print(f"wrote {cfg.run_dir()}/")


def drift(cfg: DriftConfig) -> None:
    from llm_validation.training.drift import PREDICTION_KINDS, main

    summary = main(cfg)
    draw(Path(cfg.run))
    if cfg.json:
        print(json.dumps(summary))
        return
    print("drift of the relative-influence matrix from the first evaluation:")
    print(f"{'step':>6} {'subset':<8} {'correlation':>12} {'max change':>11}")
    for d in summary["drift"]:
        print(f"{d['step']:>6} {d['subset']:<8} {d['correlation']:>12.4f} {d['max_change']:>11.4f}")
    print("trajectory over intervals of S steps: actual Δ log π against")
    for key, text in PREDICTION_KINDS.items():
        print(f"  {key}: {text}")
    print(f"{'S':>4} {'prediction':<13} {'n':>5} {'r':>8} {'sign':>6} {'rel.err':>8}")
    for t in summary["trajectory"]:
        print(
            f"{t['interval']:>4} {t['prediction']:<13} {t['n']:>5} {t['pearson_r']:>8.4f} "
            f"{t['sign_agreement']:>6.3f} {t['relative_error']:>8.4f}"
        )
    print(f"wrote {cfg.run}/drift.json")


def trends(cfg: TrendsConfig) -> None:
    from common.methods import METHODS
    from llm_validation.measure.trends import evaluate, find_runs, markdown

    if cfg.method is not None and cfg.method not in METHODS:
        raise UserError(
            f"--method: unknown method {cfg.method!r}; choose from {', '.join(METHODS)}"
        )
    runs, notes = find_runs(Path(cfg.runs), cfg.method, cfg.until)
    for note in notes:
        print(f"trends: {note}", file=sys.stderr)
    rows = evaluate(runs)
    if cfg.json:
        print(json.dumps(rows))
    elif cfg.markdown:
        print(markdown(rows))
    else:
        for r in rows:
            runs_read = f" [{', '.join(r['runs'])}]" if r["runs"] else ""
            n = f" (n = {r['n']['text']})" if r["n"] else ""
            print(f"{r['verdict']:<12} {r['claim']}{runs_read}{n}\n             ours: {r['ours']}")
            print(f"             official: {r['official']}")


def results(cfg: ResultsConfig) -> None:
    from llm_validation.measure.results import main as results_main

    md = results_main(cfg)
    print(f"wrote the results table into {cfg.write}" if cfg.write else md)


def presets(cfg: PresetsConfig) -> None:
    from llm_validation.presets import PRESETS

    width = max(map(len, PRESETS))
    for name, preset in PRESETS.items():
        print(f"{name:<{width}}  {preset.summary}")
        if cfg.verbose:
            for field_name, (value, note) in preset.settings.items():
                print(f"{'':<{width}}    --{field_name.replace('_', '-')} {value}  ({note})")


def preset_defaults(name: str) -> dict:
    """The settings of preset `name`, or a UserError naming the known ones."""
    from llm_validation.presets import PRESETS

    if name not in PRESETS:
        raise UserError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return PRESETS[name].values()


def generate(cfg: GenerateConfig) -> None:
    from llm_validation.alignment.generate import main

    s = main(cfg)
    if cfg.json:
        print(json.dumps(s))
        return
    print(
        f"{s['n']} responses in {cfg.run_dir()}/generations.jsonl: distinct-1 {s['distinct_1']:.3f}, "
        f"distinct-2 {s['distinct_2']:.3f}, repeat a {cfg.repeat_n}-gram {s['repeat_fraction']:.3f}, "
        f"mean token entropy {s['mean_token_entropy']:.3f} nats, {s['tokens_per_second']:.1f} new "
        "tokens/s"
    )


def winrate(cfg: WinrateConfig) -> None:
    from llm_validation.alignment.winrate import main

    s = main(cfg)
    if cfg.json:
        print(json.dumps(s))
        return
    fpr = s["first_position_rate"]
    print(
        f"win rate of A over B: {s['win_rate']:.3f} [{s['ci_low']:.3f}, {s['ci_high']:.3f}] "
        f"({s['interval']}, 95%)\n"
        f"prompts: {s['n']} (wins {s['wins']}, ties {s['ties']}, losses {s['losses']}); invalid "
        f"judgments {s['invalid']}, failed {s['failed']}, skipped long {s['skipped_long']}\n"
        f"first-position preference: {'n/a' if fpr is None else f'{fpr:.3f}'}\n"
        f"judge {s['judge']}: asked {s['asked']}, from cache {s['cached']}"
    )


def align(cfg: AlignConfig) -> None:
    from llm_validation.alignment.extension import main, tables

    summary = main(cfg)
    print(json.dumps(summary) if cfg.json else tables(summary))


def data(cfg: DataConfig) -> None:
    from llm_validation.sources.hh import RELEASE, fetch

    for line in fetch(cfg.base_url or RELEASE):
        print(line)


@dataclass(frozen=True)
class Command:
    config: type
    body: Callable[..., None]
    help: str
    examples: tuple[str, ...] = ()  # command lines after `python -m llm_validation`, for --help


COMMANDS = {
    "run": Command(
        RunConfig,
        run,
        "finetune with one method and track probes",
        (
            "run --method dpo --model tiny-neox --data synthetic --steps 20 --out runs/dpo-tiny",
            "run --preset cpu-dpo --steps 8   # after `data hh-probes`",
        ),
    ),
    "logprobs": Command(
        ScoreConfig,
        logprobs,
        "score a probe file once: mean summed log-prob per probe type",
        (
            "logprobs --model tiny-neox --probes synthetic --json",
            "logprobs --model smollm2 --probes hh-train --limit 8",
        ),
    ),
    "predict": Command(
        PredictConfig,
        predict,
        "first-order Δ log π (eNTK) against real optimiser steps",
        ("predict --model tiny-neox --data synthetic --loss sft --updates 4",),
    ),
    "influence": Command(
        InfluenceConfig,
        influence,
        "influence of training on each response type over every probe type (eNTK)",
        ("influence --model tiny-neox --loss sft --limit 4",),
    ),
    "presets": Command(
        PresetsConfig,
        presets,
        "the named run settings (`run --preset NAME`)",
        ("presets --verbose",),
    ),
    "drift": Command(
        DriftConfig,
        drift,
        "kernel drift and trajectory predictions of a --track-kernel run",
        (
            "run --method sft --model tiny-neox --steps 8 --track-kernel 4 --out runs/k",
            "drift --run runs/k",
        ),
    ),
    "trends": Command(
        TrendsConfig,
        trends,
        "the paper's multi-epoch signatures, checked on runs (finished or still going)",
        ("trends --runs runs/", "trends --runs runs/my-dpo --method dpo --markdown"),
    ),
    "results": Command(
        ResultsConfig,
        results,
        "the paper's claims at a glance: simulator, SmolLM2 runs, reference runs, tests",
        (
            "results --runs runs/cpu-sft runs/cpu-squeeze --reference ../shared/reference/h200-smollm2",
            "results --runs runs/ --reference ref/ --write README.md",
        ),
    ),
    "generate": Command(
        GenerateConfig,
        generate,
        "sample responses (batched, resumable JSONL) and their diversity",
        ("generate --model tiny-neox --prompts synthetic --limit 16 --out runs/gen",),
    ),
    "winrate": Command(
        WinrateConfig,
        winrate,
        "pairwise win rate of A over B under a judge, both orders, 95% CI",
        ("winrate --a runs/a/generations.jsonl --b runs/b/generations.jsonl",),
    ),
    "data": Command(
        DataConfig,
        data,
        "fetch the paper's HH probe files into the user cache",
        ("data hh-probes", "data hh-probes --base-url http://mirror.example/Learning_dynamics_LLM"),
    ),
    "align": Command(
        AlignConfig,
        align,
        "extension (SFT on y⁺ and y⁻, then DPO) vs baseline (SFT on y⁺, then DPO), judged",
        ("align --model tiny-neox --seeds 0 --sft-steps 100 --steps 20",),
    ),
}


def build_parser() -> tuple[OneLineParser, dict[str, OneLineParser]]:
    """The full parser and its subparsers: one per entry of `COMMANDS`, flags from its config."""
    parser = OneLineParser(
        prog=PROG,
        description="Finetune real causal LMs and track probe log-likelihoods.",
        epilog=f"examples:\n  {PROG} run --method dpo --model tiny-neox --data synthetic\n"
        f"  {PROG} run --help",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="command")
    subs = {}
    for name, command in COMMANDS.items():
        subs[name] = subparsers.add_parser(
            name, help=command.help, description=command.help, epilog=epilog(name, command)
        )
        add_config_args(subs[name], command.config)
    return parser, subs


def epilog(name: str, command: Command) -> str:
    """The end of a command's --help: its examples (and for `run`, the methods and presets)."""
    lines = []
    if name == "run":
        from common.methods import METHODS
        from llm_validation.presets import PRESETS

        lines += [f"methods: {', '.join(METHODS)}", f"presets: {', '.join(PRESETS)}", ""]
    lines += ["examples:", *(f"  {PROG} {example}" for example in command.examples)]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, dispatch; a UserError becomes one line on stderr with exit status 2."""

    def body() -> None:
        parser, subs = build_parser()
        args = parser.parse_args(argv)
        if args.command == "run" and args.preset:  # the preset's values become the defaults
            subs["run"].set_defaults(**preset_defaults(args.preset))
            args = parser.parse_args(argv)
        command = COMMANDS[args.command]
        cfg = config_from_args(command.config, args)
        set_mode(getattr(cfg, "progress", "auto"))
        command.body(cfg)

    return run_cli(
        PROG,
        body,
        interrupted="interrupted: the run folder keeps every evaluation written; continue with "
        "--resume",
    )
