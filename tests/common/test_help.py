"""Every `--help` of every subcommand of the three CLIs runs, shows each option's default and
ends with examples (a `%` in a help text must not crash `--help` with a traceback)."""

from __future__ import annotations

import argparse

import pytest


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def clis():
    """(name, main, parser) of each CLI whose extra is installed."""
    import importlib

    found = []
    for name, path, build in [
        ("simulator", "simulator.experiments.cli", lambda m: m.build_parser()),
        ("figures", "figures.cli", lambda m: m._parser()),
        ("llm_validation", "llm_validation.cli", lambda m: m.build_parser()[0]),
    ]:
        try:
            module = importlib.import_module(path)
        except ImportError:  # its extra (figures: matplotlib) is absent
            continue
        found.append((name, module.main, build(module)))
    return found


CASES = [
    pytest.param(main, parser, argv, id=f"{name} {' '.join(argv)}".strip())
    for name, main, parser in clis()
    for argv, parser in [([], parser), *(([sub], p) for sub, p in subparsers(parser).items())]
]


def options_with_defaults(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        a
        for a in parser._actions
        if a.option_strings and a.default not in (None, argparse.SUPPRESS) and not a.required
    ]


@pytest.mark.parametrize("main, parser, argv", CASES)
def test_help_exits_0_shows_every_default_and_ends_with_examples(main, parser, argv, capsys):
    with pytest.raises(SystemExit) as done:
        main([*argv, "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # unwrapped
    for action in options_with_defaults(parser):
        assert f"(default: {action.default})" in text, action.option_strings
    assert "examples: " in text and text.index("examples: ") > text.index("options:")


def test_run_help_lists_every_method_and_preset_by_name(capsys):
    pytest.importorskip("torch")
    from common.methods import METHODS
    from llm_validation.cli import main
    from llm_validation.presets import PRESETS

    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = capsys.readouterr().out
    assert f"methods: {', '.join(METHODS)}" in text
    assert f"presets: {', '.join(PRESETS)}" in text


@pytest.mark.parametrize(
    "flag, value", [("--steps", "-3"), ("--eval-every", "0"), ("--batch-size", "0")]
)
def test_a_bad_value_is_a_message_naming_only_that_flag(flag, value, capsys):
    pytest.importorskip("torch")
    from llm_validation.cli import main

    assert main(["run", "--model", "tiny-neox", flag, value]) == 2
    err = capsys.readouterr().err
    others = {"--steps", "--eval-every", "--batch-size"} - {flag}
    assert flag in err and not any(o in err for o in others)
