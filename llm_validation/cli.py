"""`python -m llm_validation <command>`: argparse subcommands over the library.

Commands: `run` (finetune and track probes, flags made from `config.RunConfig`) and `logprobs`
(score a probe file once). Bad input raises `UserError`, caught once in `main`: one line on stderr,
exit status 2, no traceback (argparse's own errors are one line with status 2 as well).

Adding a command from another module (`predict`, `influence`): define in that module

    def register(subparsers) -> None:
        parser = subparsers.add_parser("predict", help="...")
        add_shared_args(parser)              # --model --data --probes --limit --strict --seed --out
        parser.add_argument(...)             # its own flags
        parser.set_defaults(handler=run_predict)   # run_predict(args) -> int exit status

and it is picked up from `PLUGINS` when the module exists.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
import time
import typing
from dataclasses import MISSING

from llm_validation.errors import UserError

PLUGINS = ("predict", "influence")
SHARED = ("model", "data", "probes", "limit", "strict", "seed", "out")


class OneLineParser(argparse.ArgumentParser):
    """argparse with a one-line error message (no usage block) and exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def add_shared_args(parser: argparse.ArgumentParser, *, data: bool = True, probes: bool = True,
                    probes_required: bool = False, model_default: str = "smollm2") -> None:
    """The arguments every command shares: --model, --data, --probes, --limit, --strict, --seed,
    --out (each with the same meaning everywhere)."""
    parser.add_argument("--model", default=model_default,
                        help="smollm2 (embedded default), tiny-neox, tiny-llama, a local HF "
                             "folder or a cached hub name; never downloaded")
    if data:
        parser.add_argument("--data", default="synthetic",
                            help="preference JSONL (prompt/chosen/rejected) or `synthetic`")
    if probes:
        parser.add_argument("--probes", default=None, required=probes_required,
                            help="probe JSONL in the paper's format (prompt + response fields)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N examples")
    parser.add_argument("--strict", action="store_true",
                        help="fail on the first malformed line instead of skipping it")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--out", default=None, help="output folder")


def _add_config_fields(parser: argparse.ArgumentParser, skip: tuple[str, ...]) -> None:
    """One flag per RunConfig field not in `skip` (`eval_every` → `--eval-every`)."""
    from llm_validation.config import config_fields

    for f in config_fields():
        if f.name in skip:
            continue
        flag, meta = "--" + f.name.replace("_", "-"), dict(f.metadata)
        if f.default is False:
            parser.add_argument(flag, action="store_true", help=meta["help"])
        elif f.default is True:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=True,
                                help=meta["help"])
        else:
            parser.add_argument(flag, type=meta.get("type", type(f.default)), default=f.default,
                                choices=meta.get("choices"), help=meta["help"])


def _run(args: argparse.Namespace) -> int:
    from llm_validation.config import RunConfig, config_fields
    from llm_validation.methods import METHODS
    from llm_validation.train import main

    if args.method not in METHODS:
        raise UserError(f"unknown method {args.method!r}; choose from {', '.join(METHODS)}")
    cfg = RunConfig(**{f.name: getattr(args, f.name) for f in config_fields()
                       if f.default is not MISSING})
    started = time.perf_counter()
    out = main(cfg)
    print(_movement(out / "metrics.csv"))
    print(f"wrote {out}/ in {time.perf_counter() - started:.1f} s")
    return 0


def _movement(csv_path) -> str:
    """'chosen −31.2 → −25.0, …': mean summed log-prob at the first and last evaluation."""
    from llm_validation.tracking import read_metrics

    rows = [r for r in read_metrics(csv_path) if r["metric"] == "logp"]
    first, last = int(rows[0]["step"]), int(rows[-1]["step"])
    value = {(int(r["step"]), r["probe_type"]): float(r["value"]) for r in rows}
    kinds = [k for k in ("chosen", "rejected", "y_star") if (first, k) in value]
    parts = [f"{k} {value[first, k]:.2f} → {value[last, k]:.2f}" for k in kinds]
    return f"logp from step {first} to {last}: " + ", ".join(parts)


def _logprobs(args: argparse.Namespace) -> int:
    import numpy as np

    from llm_validation.data import load_examples
    from llm_validation.logprobs import Truncation
    from llm_validation.models import load_model
    from llm_validation.runtime import pick_device
    from llm_validation.tracking import build_probes, evaluate

    model, tokenizer = load_model(args.model, seed=args.seed, device=pick_device(args.device))
    examples, report = load_examples(args.probes, required=(), strict=args.strict,
                                     limit=args.limit, seed=args.seed)
    print(f"probes: {report.summary()}", file=sys.stderr)
    truncation = Truncation(args.max_length, args.max_prompt_length, args.truncation_mode)
    probes = build_probes(tokenizer, examples, truncation)
    arrays = evaluate(model, probes, tokenizer.eos_token_id, args.batch_tokens, progress=True)
    means = {kind: float(np.mean(stats["logp"])) for kind, stats in arrays.items()}
    if args.json:
        print(json.dumps(means))
        return 0
    print(f"{'probe type':<20} {'n':>4} {'mean log π(y|x)':>16} {'per token':>10}")
    for kind, stats in arrays.items():
        print(f"{kind:<20} {len(stats['logp']):>4} {means[kind]:>16.2f} "
              f"{float(np.mean(stats['logp_token'])):>10.3f}")
    return 0


def _register_run(subparsers) -> None:
    from llm_validation.methods import METHODS

    parser = subparsers.add_parser("run", help="finetune with one method and track probes")
    add_shared_args(parser)
    parser.add_argument("--method", default="dpo", help=f"one of: {', '.join(METHODS)}")
    _add_config_fields(parser, skip=(*SHARED, "method"))
    parser.set_defaults(handler=_run)


def _register_logprobs(subparsers) -> None:
    parser = subparsers.add_parser("logprobs", help="score a probe file once: mean summed "
                                   "log-prob per probe type (y_star included)")
    add_shared_args(parser, data=False, probes_required=True)
    parser.add_argument("--json", action="store_true", help="print one JSON object type → mean")
    parser.add_argument("--max-length", type=int, default=512, help="paper: 512")
    parser.add_argument("--max-prompt-length", type=int, default=256, help="paper: 256")
    parser.add_argument("--truncation-mode", default="keep_end", choices=("keep_end", "keep_start"),
                        help="which end of a long prompt survives (paper, HH: keep_end)")
    parser.add_argument("--batch-tokens", type=int, default=4096, help="padded tokens per batch")
    parser.add_argument("--device", default="auto", help="cuda, mps, cpu or auto")
    parser.set_defaults(handler=_logprobs)


def build_parser() -> argparse.ArgumentParser:
    """The full parser: built-in commands plus any plugin module's `register(subparsers)`."""
    parser = OneLineParser(prog="python -m llm_validation",
                           description="Finetune real causal LMs and track probe log-likelihoods.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="command")
    _register_run(subparsers)
    _register_logprobs(subparsers)
    for name in PLUGINS:
        if importlib.util.find_spec(f"llm_validation.{name}") is not None:
            register = getattr(importlib.import_module(f"llm_validation.{name}"), "register", None)
            if register is not None:
                register(subparsers)
    return parser


def main(argv: typing.Sequence[str] | None = None) -> int:
    """Parse, dispatch, and turn a UserError into one line on stderr with exit status 2."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args) or 0
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the run folder keeps every evaluation written; continue with --resume",
              file=sys.stderr)
        return 130
