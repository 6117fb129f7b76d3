"""Generated blocks of Markdown files: text between `<!-- NAME:begin -->` and `<!-- NAME:end -->`.

The README's results table (`python -m llm_validation results --write README.md`) and the
performance table of docs/performance.md (`python -m benchmarks --docs`) are written this way:
only what lies between a block's two markers is replaced, everything else stays byte for byte.
"""

from __future__ import annotations

from pathlib import Path

from common.errors import UserError


def markers(name: str) -> tuple[str, str]:
    """The begin and end markers of block `name`."""
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def replace_block(text: str, name: str, body: str) -> str:
    """`text` with block `name`'s contents replaced by `body` (a newline ends it); UserError
    unless each marker occurs exactly once, begin before end."""
    begin, end = markers(name)
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise UserError(f"needs one {begin} and, after it, one {end} marker")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{body.rstrip(chr(10))}\n{end}{tail}"


def _updated(path: Path, name: str, body: str) -> str:
    """The text of `path` with block `name` replaced; UserError naming the file otherwise."""
    try:
        text = path.read_text()
    except OSError as err:
        raise UserError(f"cannot read {path}: {err.strerror or err}") from None
    try:
        return replace_block(text, name, body)
    except UserError as err:
        raise UserError(f"{path} {err}") from None


def check_block(path: Path, name: str) -> None:
    """UserError unless `path` is readable and holds block `name` (nothing is written)."""
    _updated(path, name, "")


def write_block(path: Path, name: str, body: str) -> None:
    """Replace block `name` of the Markdown file `path` (see `replace_block`)."""
    path.write_text(_updated(path, name, body))
