"""Command-line flags generated from frozen-dataclass configs: one help text, in the field.

A config field declared with `option(default, help, …)` becomes the flag `--field-name`
(`eval_every` → `--eval-every`): a boolean gets `--field-name` and `--no-field-name` (a preset may
have set either), everything else parses with `type` (default: the default's type; `positive(float)`
and `at_least(n)` check a range) and `choices`. `positional=True` makes it an argument, `flag=`
renames it, `nargs=`/`action=` pass through to argparse (`nargs="+", action="extend"`: a list
that `--x A B --x C` extends). `config_from_args` builds the config back from the parsed namespace.

Values are checked where a config is built (`Checked.__post_init__`, so flags, presets and the
Python API all take the same path): every float must be finite (a check written `x <= 0` lets NaN
through), and a field's `low=` (≥), `above=` (>), `high=` (≤), `below=` (<) bound its value; a bad one is the one line
`--flag: must be …, got …`.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import MISSING, Field, field, fields

from common.errors import UserError

SEED = {"low": 0, "high": 2**32 - 1}  # what numpy's and torch's seeding both take


def option(default, help: str, **extra) -> Field:
    """A config field with its help string (and optional `type`, `choices`, `required`,
    `positional`, `flag`)."""
    return field(default=default, metadata={"help": help, **extra})


def positive(kind: type) -> Callable[[str], float]:
    """A flag type: `kind(text)`, which must be > 0."""

    def parse(text: str):
        value = kind(text)
        if not math.isfinite(value) or value <= 0:
            raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
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


def positive_ints(text: str | None, flag: str) -> tuple[int, ...]:
    """The comma-separated integers ≥ 1 in `text` (None or blank: none), else a `UserError`
    naming `flag`."""
    items = [item.strip() for item in (text or "").split(",") if item.strip()]
    if not all(item.isdigit() and int(item) >= 1 for item in items):
        raise UserError(f"{flag} must be comma-separated integers ≥ 1, got {text!r}")
    return tuple(int(item) for item in items)


def bound_error(value, meta) -> str | None:
    """Why `value` breaks its field's bounds (`low`, `above`, `high`, `below`; floats finite)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    symbols = {"low": "≥", "above": ">", "high": "≤", "below": "<"}
    parts = [f"{symbol} {meta[key]}" for key, symbol in symbols.items() if key in meta]
    ok = (
        (isinstance(value, int) or math.isfinite(value))
        and value >= meta.get("low", -math.inf)
        and value > meta.get("above", -math.inf)
        and value <= meta.get("high", math.inf)
        and value < meta.get("below", math.inf)
    )
    if ok:
        return None
    kind = "a finite number" if isinstance(value, float) else "an integer"
    return f"must be {kind}{' ' if parts else ''}{' and '.join(parts)}, got {value}"


def check_fields(config) -> None:
    """Every flagged field of the dataclass instance `config` within its bounds, else a
    `UserError` naming the flag."""
    for f in fields(config):
        reason = bound_error(getattr(config, f.name), f.metadata)
        if reason:
            raise UserError(f"{flag_name(f)}: {reason}")


class Checked:
    """Base of a frozen config dataclass whose values are checked on construction."""

    def __post_init__(self) -> None:
        check_fields(self)


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
                **{k: meta[k] for k in ("nargs", "action") if k in meta},
            )


def config_from_args(config: type, args: argparse.Namespace):
    """The dataclass `config` from the parsed flags (fields without a flag keep their default)."""
    given = vars(args)
    return config(**{f.name: given[f.name] for f in fields(config) if f.name in given})
