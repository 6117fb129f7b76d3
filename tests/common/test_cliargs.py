"""Flags from config fields, checked where the config is built: every float finite
first (NaN passes `x <= 0`), bounds inclusive or strict as declared, the flag named."""

import argparse
import math
from dataclasses import dataclass

import pytest

from common.cliargs import (
    SEED,
    Checked,
    add_config_args,
    at_least,
    bound_error,
    config_from_args,
    option,
    positive,
    positive_ints,
)
from common.errors import OneLineParser, UserError


@dataclass(frozen=True)
class Toy(Checked):
    lr: float = option(0.1, "learning rate", low=0)
    beta: float | None = option(None, "β", type=float, above=0)
    p: float = option(0.5, "a probability", above=0, below=1)
    top: float = option(1.0, "nucleus", above=0, high=1)
    limit: int | None = option(None, "first N", type=int, low=1)
    internal: int = 7  # no help string: no flag (and the fields after it still get theirs)
    seed: int = option(0, "seed", **SEED)
    scale: float = option(1.0, "any finite number")
    name: str = option("x", "a name")
    fast: bool = option(False, "go fast")
    max_new: int = option(4, "tokens", flag="--new")


@pytest.mark.parametrize(
    "value, meta, reason",
    [
        (math.nan, {"low": 0}, "must be a finite number ≥ 0, got nan"),
        (math.inf, {"low": 0}, "must be a finite number ≥ 0, got inf"),
        (-math.inf, {}, "must be a finite number, got -inf"),
        (math.nan, {}, "must be a finite number, got nan"),
        (-1e-300, {"low": 0}, "must be a finite number ≥ 0, got -1e-300"),
        (0.0, {"above": 0}, "must be a finite number > 0, got 0.0"),
        (-1.0, {"above": 0}, "must be a finite number > 0, got -1.0"),
        (1.5, {"below": 1}, "must be a finite number < 1, got 1.5"),
        (1.0, {"above": 0, "below": 1}, "must be a finite number > 0 and < 1, got 1.0"),
        (1.5, {"above": 0, "high": 1}, "must be a finite number > 0 and ≤ 1, got 1.5"),
        (0, {"low": 1}, "must be an integer ≥ 1, got 0"),
        (2**32, SEED, "must be an integer ≥ 0 and ≤ 4294967295, got 4294967296"),
        (-1, SEED, "must be an integer ≥ 0 and ≤ 4294967295, got -1"),
    ],
)
def test_a_value_outside_its_bounds_says_why(value, meta, reason):
    assert bound_error(value, meta) == reason


@pytest.mark.parametrize(
    "value, meta",
    [
        (0.0, {"low": 0}),  # low is inclusive
        (1.0, {"above": 0, "high": 1}),  # high is inclusive
        (0.999, {"above": 0, "below": 1}),
        (1, {"low": 1}),
        (2**32 - 1, SEED),
        (0, SEED),
        (-5.0, {}),  # any finite float without bounds
        (None, {"low": 1}),  # unset
        (True, {"low": 2}),  # booleans are flags, not numbers
        ("text", {"low": 1}),
    ],
)
def test_a_value_within_its_bounds_passes(value, meta):
    assert bound_error(value, meta) is None


def test_building_a_config_checks_every_field_and_names_the_flag():
    assert Toy(lr=0.0, beta=2.0, limit=1).lr == 0.0
    for kwargs, flag in [
        ({"lr": math.nan}, "--lr"),
        ({"beta": 0.0}, "--beta"),
        ({"p": 0.0}, "--p"),
        ({"limit": 0}, "--limit"),
        ({"scale": math.inf}, "--scale"),
        ({"max_new": math.nan}, "--new"),  # a renamed flag is named as the user types it
    ]:
        with pytest.raises(UserError, match=f"^{flag}: must be"):
            Toy(**kwargs)


def _parse(argv):
    parser = OneLineParser(prog="toy")
    add_config_args(parser, Toy)
    return config_from_args(Toy, parser.parse_args(argv))


def test_flags_come_from_the_fields_and_the_config_back_from_the_flags():
    cfg = _parse(["--lr", "0.5", "--beta", "2", "--new", "9", "--fast", "--name", "y"])
    assert cfg == Toy(lr=0.5, beta=2.0, max_new=9, fast=True, name="y")
    assert _parse([]) == Toy()
    assert _parse(["--no-fast"]).fast is False
    assert _parse(["--seed", "3"]).seed == 3  # after the flagless field
    with pytest.raises(UserError, match="unrecognized arguments: --internal"):
        _parse(["--internal", "1"])


def test_skipped_fields_get_no_flag_and_keep_their_default():
    parser = OneLineParser(prog="toy")
    add_config_args(parser, Toy, skip=("lr",))
    args = parser.parse_args(["--seed", "2"])
    assert config_from_args(Toy, args) == Toy(seed=2)
    with pytest.raises(UserError, match="unrecognized arguments: --lr"):
        parser.parse_args(["--lr", "1"])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--lr", "nan"], "--lr: must be a finite number ≥ 0, got nan"),
        (["--limit", "0"], "--limit: must be an integer ≥ 1, got 0"),
        (["--lr", "x"], "--lr: invalid float value: 'x'"),  # argparse's, without "argument "
    ],
)
def test_a_bad_flag_is_one_user_error_naming_it(argv, message):
    with pytest.raises(UserError) as caught:
        _parse(argv)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    "text, ok", [("1e-3", True), ("0", False), ("-1", False), ("nan", False), ("inf", False)]
)
def test_positive_takes_finite_numbers_above_zero(text, ok):
    parse = positive(float)
    if ok:
        assert parse(text) == float(text)
    else:
        with pytest.raises(argparse.ArgumentTypeError, match="finite number > 0"):
            parse(text)


def test_at_least_is_inclusive():
    assert at_least(2)("2") == 2 and at_least(2)("7") == 7
    with pytest.raises(argparse.ArgumentTypeError, match="must be ≥ 2, got 1"):
        at_least(2)("1")


@pytest.mark.parametrize(
    "text, steps", [("20,40,60", (20, 40, 60)), (" 3, 1 ,", (3, 1)), ("", ()), (None, ())]
)
def test_positive_ints_reads_a_comma_separated_list(text, steps):
    assert positive_ints(text, "--at") == steps


@pytest.mark.parametrize("text", ["0", "20,-1", "2.5", "x", "1;2"])
def test_positive_ints_names_the_flag_of_a_bad_list(text):
    with pytest.raises(
        UserError, match=f"^--at must be comma-separated integers ≥ 1, got '{text}'$"
    ):
        positive_ints(text, "--at")
