"""The one exception type for bad user input, and the one way every entry point reports it.

Raise `UserError` for anything the user can fix (a missing file, a malformed line under `--strict`,
an unknown model name, a bad flag). `run_cli` catches it once and prints

    <prog>: error: <message>

as a single line on stderr with exit status 2; everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable

USER_ERROR_STATUS = 2
INTERRUPTED_STATUS = 130


class UserError(Exception):
    """Bad input from the user: reported as one line, exit status 2, no traceback."""


def error_line(prog: str, message: object) -> str:
    """`<prog>: error: <message>` on one line (newlines in the message become spaces)."""
    return f"{prog}: error: " + " ".join(str(message).split())


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every option's help ends with its default (as transformers' TrainingArguments shows it),
    a `%` in a help text is literal (argparse would read it as a format), and a description or
    epilog keeps its line breaks (examples). A required option, a positional, or an option whose
    help already says what its None default means, shows no default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = re.sub(r"%(?!\(default\)s)", "%%", action.help or "")
        quiet = action.required or not action.option_strings or action.default is argparse.SUPPRESS
        if quiet or "%(default)" in text or (action.default is None and "default" in text):
            return text
        return text + " (default: %(default)s)"


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are `UserError`s (one line, no usage block), so they take the same
    path as every other user mistake, and whose help shows every default
    (`HelpFormatter`). Subparsers inherit the class."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        raise UserError(message.removeprefix("argument "))  # `--flag: …`, as config checks say


def run_cli(prog: str, body: Callable[[], int | None], interrupted: str = "interrupted") -> int:
    """Run a command's body; a `UserError` becomes one line on stderr and exit status 2, Ctrl-C
    the line `interrupted` and status 130."""
    try:
        return body() or 0
    except UserError as err:
        print(error_line(prog, err), file=sys.stderr)
        return USER_ERROR_STATUS
    except KeyboardInterrupt:
        print(f"{prog}: {interrupted}", file=sys.stderr)
        return INTERRUPTED_STATUS
