"""Preference and probe data: one validated reader for both formats.

Both formats are JSONL, one object a line, with a string `prompt` (or, in any file format of
`formats`, trl's conversational message lists, rendered with the chat template):

- trl's standard preference convention: `chosen` and `rejected` (plain strings).
- the paper's probing format: any subset of `PROBE_TYPES` (see ../shared/README.md); the HH probe
  file has `chosen` and `rejected` too, so it doubles as preference data.

`load_examples("synthetic")` gives the built-in task of `llm_validation.sources.synthetic`;
`hh-train` / `hh-test` the paper's HH probe files (`sources.hh`), `hub:NAME[:SPLIT]` a hub dataset
(`formats.hub_records`).

Every line is validated. A problem is reported as `file:line: what`; under `strict=True` the first
problem raises `UserError`, otherwise it is skipped and counted in the `LoadReport`:
a malformed line or a missing/empty required field skips the line; an empty optional probe
response (e.g. a blank `chosen_initial`) skips that response only.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from common.errors import UserError
from common.probes import PAIR_TYPES, PROBE_TYPES
from llm_validation.sources.examples import Example
from llm_validation.sources.formats import HUB, lines, to_standard
from llm_validation.sources.hh import resolve
from llm_validation.sources.synthetic import generate

PREFERENCE_FIELDS = PAIR_TYPES  # what preference training needs
SHOWN_PROBLEMS = 5  # problems printed one by one; the rest are counted


@dataclass
class LoadReport:
    """What a load read, kept and skipped; `problems` holds one `file:line: what` each."""

    lines: int = 0
    kept: int = 0
    responses_skipped: int = 0
    problems: list[str] = field(default_factory=list)
    identical: int = 0  # kept examples whose chosen and rejected are the same text
    fields: tuple[str, ...] = ()  # the first record's fields (what a table's columns are)

    def summary(self) -> str:
        same = f"; {self.identical} pairs with chosen == rejected" if self.identical else ""
        return (
            f"read {self.lines} lines, kept {self.kept} examples; skipped "
            f"{self.lines - self.kept} lines and {self.responses_skipped} empty optional "
            f"responses{same}"
        )

    def by_reason(self) -> dict[str, int]:
        """How many problems of each kind (`malformed JSON`, `missing field 'chosen'`, …)."""
        reasons = (p.split(": ", 1)[-1].split(" (")[0] for p in self.problems)
        return dict(Counter(reasons).most_common())

    def notes(self, first: int = SHOWN_PROBLEMS) -> list[str]:
        """The first `first` problems as `file:line: reason`, then how many more there were."""
        shown = self.problems[:first]
        rest = len(self.problems) - len(shown)
        more = [f"… and {rest} more problems (--strict stops at the first)"] if rest else []
        return [*shown, *more]

    def to_json(self) -> dict:
        return {
            "lines": self.lines,
            "kept": self.kept,
            "lines_skipped": self.lines - self.kept,
            "responses_skipped": self.responses_skipped,
            "identical_pairs": self.identical,
            "problems": self.problems,
        }


def _check_record(record: object, required: tuple[str, ...]) -> tuple[dict, list[str]]:
    """Validate one parsed line → (responses kept, problems). A problem starting with '!' is
    fatal for the line; others drop one optional response."""
    if isinstance(record, list):
        return {}, ["!a JSON array, not one object: a .jsonl file holds one object a line"]
    if not isinstance(record, dict):
        return {}, ["!not a JSON object"]
    problems = []
    prompt = record.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        problems.append("!missing or empty 'prompt'")  # message lists: `formats.to_standard`
    responses = {}
    for name in PROBE_TYPES:
        if name not in record:
            if name in required:
                problems.append(f"!missing field {name!r}")
            continue
        value = record[name]
        if not isinstance(value, str) or not value.strip():
            bang = "!" if name in required else ""
            problems.append(f"{bang}empty or non-string response {name!r}")
            continue
        responses[name] = value
    if not responses:
        problems.append("!no response field")
    return responses, problems


def parse_lines(
    lines, source: str, required=PREFERENCE_FIELDS, strict=False, limit=None, template=None
):
    """Validate JSONL `lines` → (examples, report); `source` names the file in messages.
    Conversational records are rendered with the chat `template` (`formats.to_standard`)."""
    report, examples = LoadReport(), []
    for number, line in enumerate(lines, start=1):
        if limit is not None and len(examples) >= limit:
            break
        if not line.strip():
            continue
        report.lines += 1
        try:
            record = json.loads(line)
        except UnicodeDecodeError:
            responses, problems = {}, ["!not UTF-8 text"]
        except json.JSONDecodeError as err:
            responses, problems = {}, [f"!malformed JSON ({err.msg}, column {err.colno})"]
        else:
            record, problems = to_standard(record, template)
            if isinstance(record, dict) and not report.fields:
                report.fields = tuple(record)
            responses, more = _check_record(record, tuple(required)) if not problems else ({}, [])
            problems += more
        for problem in problems:
            message = f"{source}:{number}: {problem.lstrip('!')}"
            if strict:
                raise UserError(message)
            report.problems.append(message)
        if any(p.startswith("!") for p in problems):
            continue
        report.responses_skipped += len(problems)
        examples.append(Example(record["prompt"], responses, f"{source}:{number}"))
        report.kept += 1
        report.identical += "chosen" in responses and responses["chosen"] == responses.get(
            "rejected"
        )
    return examples, report


def load_examples(
    spec: str, *, required=PREFERENCE_FIELDS, strict=False, limit=None, seed=0, template=None
):
    """`spec` is `synthetic`, `hh-train` / `hh-test`, `hub:NAME[:SPLIT]`, a JSONL path or another
    format of `formats` (a datasets folder, parquet, JSON) → (examples, LoadReport); `template`
    renders conversational records.

    `required`: fields every kept example must have (chosen+rejected for preference training,
    just one response for scoring). `limit`: stop after this many kept examples.
    """
    if spec == "synthetic":
        examples = generate(limit or 128, seed)
        return examples, LoadReport(lines=len(examples), kept=len(examples))
    if spec.startswith(HUB):
        examples, report = parse_lines(lines(spec), spec, required, strict, limit, template)
        return _nonempty(spec, examples, report, required)
    path = Path(resolve(spec))
    if not path.is_file() and not path.is_dir():
        raise UserError(f"data file not found: {spec}")
    records = lines(path)
    if records is not None:
        examples, report = parse_lines(records, str(path), required, strict, limit, template)
    else:
        with path.open("rb") as handle:  # bytes: json.loads decodes per line (bad UTF-8: a line)
            if handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"["):
                raise UserError(
                    f"{spec} holds a JSON array, not JSON lines (one object a line): name it "
                    f"{path.stem}.json, or write one object a line"
                )
            handle.seek(0)
            examples, report = parse_lines(handle, str(path), required, strict, limit, template)
    return _nonempty(spec, examples, report, required)


def _nonempty(spec: str, examples: list[Example], report: LoadReport, required):
    """The load, or one line saying why nothing (or only identical pairs) is usable."""
    if not examples:
        raise UserError(
            f"{spec}: no usable examples ({report.summary()}); {why_none(report, required)}"
        )
    if set(PAIR_TYPES) <= set(required) and report.identical == len(examples):
        raise UserError(
            f"{spec}: every pair ({len(examples)}) has chosen == rejected: a preference loss "
            "has nothing to learn from them"
        )
    return examples, report


def why_none(report: LoadReport, required) -> str:
    """Why a load kept nothing, on one line: the first problems as `file:line: reason`, a count
    by reason, and the fields the records have beside those needed."""
    parts = ["; ".join(report.notes(3))]
    parts.append("by reason: " + ", ".join(f"{r} ×{n}" for r, n in report.by_reason().items()))
    needed = ("prompt", *required)
    if report.fields and not set(needed) <= set(report.fields):
        parts.append(f"its records have {', '.join(report.fields)}; needed: {', '.join(needed)}")
    return "; ".join(p for p in parts if p)
