"""Command-line flags generated from frozen-dataclass configs: one help text, in the field.

A config field declared with `option(default, help, …)` becomes the flag `--field-name`
(`eval_every` → `--eval-every`): a boolean gets `--field-name` and `--no-field-name` (a preset may
have set either), everything else parses with `type` (default: the default's type; `positive(float)`
and `at_least(n)` check a range) and `choices`. `positional=True` makes it an argument, `flag=`
renames it. `config_from_args` builds the config back from the parsed namespace.
"""

from __future__ import annotations

import argparse
import re
from argparse import SUPPRESS
from collections.abc import Callable
from dataclasses import MISSING, Field, field, fields


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every option's help ends with its default (as transformers' TrainingArguments shows it),
    a `%` in a help text is literal (argparse would read it as a format), and a description or
    epilog keeps its line breaks (examples). A required option, a positional, or an option whose
    help already says what its None default means, shows no default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = re.sub(r"%(?!\(default\)s)", "%%", action.help or "")
        quiet = action.required or not action.option_strings or action.default is SUPPRESS
        if quiet or "%(default)" in text or (action.default is None and "default" in text):
            return text
        return text + " (default: %(default)s)"


def option(default, help: str, **extra) -> Field:
    """A config field with its help string (and optional `type`, `choices`, `required`,
    `positional`, `flag`)."""
    return field(default=default, metadata={"help": help, **extra})


def positive(kind: type) -> Callable[[str], float]:
    """A flag type: `kind(text)`, which must be > 0."""

    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    return parse


def at_least(minimum: int) -> Callable[[str], int]:
    """A flag type: an integer ≥ `minimum`."""

    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be ≥ {minimum}, got {text}")
        return value

    return parse


def flag_name(f: Field) -> str:
    return f.metadata.get("flag", "--" + f.name.replace("_", "-"))


def add_config_args(
    parser: argparse.ArgumentParser, config: type, skip: tuple[str, ...] = ()
) -> None:
    """One flag per field of the dataclass `config` that has a help string and is not in `skip`."""
    for f in fields(config):
        if f.name in skip or "help" not in f.metadata:
            continue
        meta = f.metadata
        default = f.default if f.default is not MISSING else f.default_factory()
        if meta.get("positional"):
            parser.add_argument(
                f.name, type=meta.get("type", str), choices=meta.get("choices"), help=meta["help"]
            )
        elif isinstance(default, bool):  # --x and --no-x: a preset may have set either
            parser.add_argument(
                flag_name(f),
                dest=f.name,
                action=argparse.BooleanOptionalAction,
                default=default,
                help=meta["help"],
            )
        else:
            parser.add_argument(
                flag_name(f),
                dest=f.name,
                type=meta.get("type", type(default)),
                default=default,
                choices=meta.get("choices"),
                required=meta.get("required", False),
                help=meta["help"],
            )


def config_from_args(config: type, args: argparse.Namespace):
    """The dataclass `config` from the parsed flags (fields without a flag keep their default)."""
    given = vars(args)
    return config(**{f.name: given[f.name] for f in fields(config) if f.name in given})
