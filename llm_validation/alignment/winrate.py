"""`python -m llm_validation winrate --a A.jsonl --b B.jsonl --judge JUDGE --out DIR [--json]`.

A's win rate over B on the prompts both files answered (`generate` output: one JSON object a line
with `prompt` and `response`; the k-th occurrence of a prompt in A pairs with its k-th in B).
Each pair is judged in both orders, (A, B) and (B, A), and tallied by `core.winrate_stats`:
ties count one half, a split between the orders is a tie, the interval is Wilson's or a bootstrap
over prompts. Pairs where either response is longer than `max_chars` are skipped (the paper skips
responses over 2,000 characters).

Writes DIR/config.json, DIR/judgments.jsonl (the cache: one line per judgment, appended and
flushed as it arrives, keyed by judge and the exact text shown, so a rerun or a resumed run never
asks the judge again), DIR/winrate.csv (one row per prompt) and DIR/summary.json.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from common.errors import UserError
from common.progress import progress
from common.runs import claim_run_dir, write_json
from llm_validation.alignment.judges import (
    FIRST,
    SECOND,
    ChatSettings,
    Verdict,
    judge_kind,
    load_judge,
)
from llm_validation.config import WinrateConfig
from llm_validation.core.winrate_stats import INVALID, TIE, prompt_verdict, tally


def chat_settings(cfg: WinrateConfig) -> ChatSettings:
    """The chat judge's settings from the config's flags."""
    return ChatSettings(
        cfg.judge_model, cfg.timeout, cfg.retries, cfg.backoff, cfg.requests_per_second
    )


def read_responses(path: str) -> list[tuple[str, str]]:
    """(prompt, response) per line of a `generate` JSONL; a bad line is a one-line UserError."""
    file = Path(path)
    if not file.is_file():
        raise UserError(f"responses file not found: {path}")
    rows = []
    with file.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                prompt, response = record["prompt"], record["response"]
            except (ValueError, KeyError, TypeError):
                raise UserError(
                    f"{path}:{number}: not a JSON object with 'prompt' and 'response'"
                ) from None
            if not isinstance(prompt, str) or not isinstance(response, str):
                raise UserError(f"{path}:{number}: 'prompt' and 'response' must be strings")
            rows.append((prompt, response))
    if not rows:
        raise UserError(f"{path}: no responses")
    return rows


def pair_up(a_rows, b_rows) -> tuple[list[tuple[str, str, str]], int]:
    """[(prompt, response A, response B)] in A's order, the k-th occurrence of a prompt in A with
    its k-th in B; and how many rows of either file found no partner."""
    pool: dict[str, list[str]] = {}
    for prompt, response in b_rows:
        pool.setdefault(prompt, []).append(response)
    pairs = []
    for prompt, response in a_rows:
        if pool.get(prompt):
            pairs.append((prompt, response, pool[prompt].pop(0)))
    unmatched = len(a_rows) + len(b_rows) - 2 * len(pairs)
    return pairs, unmatched


def judgment_key(judge_key: str, prompt: str, first: str, second: str) -> str:
    """Cache key: sha256 of the judge's identity and the exact text it is shown."""
    text = json.dumps([judge_key, prompt, first, second])
    return hashlib.sha256(text.encode()).hexdigest()


class JudgmentCache:
    """DIR/judgments.jsonl: read at start, one line appended and flushed per new judgment."""

    def __init__(self, path: Path):
        self.path, self.entries = path, {}
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                    self.entries[entry["key"]] = Verdict(
                        entry["choice"], entry["raw"], entry["attempts"]
                    )
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by a crash: that judgment is asked again
        self._handle = path.open("a", encoding="utf-8")

    def add(self, key: str, verdict: Verdict) -> None:
        self.entries[key] = verdict
        entry = {
            "key": key,
            "choice": verdict.choice,
            "raw": verdict.raw,
            "attempts": verdict.attempts,
        }
        self._handle.write(json.dumps(entry) + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


def winner(choice: str, first: str) -> str:
    """The winning response (`A`, `B`, `tie`, `invalid`) of a slot choice when `first` was shown
    first."""
    second = "B" if first == "A" else "A"
    return {FIRST: first, SECOND: second, TIE: TIE}.get(choice, INVALID)


def judge_all(cfg: WinrateConfig, judge, pairs, cache: JudgmentCache):
    """Both orders of every pair → rows for the CSV and counts of what was asked."""
    rows, counts = [], {"asked": 0, "cached": 0, "failed": 0}
    bar = progress(2 * len(pairs), "judging", unit="judgment")
    for index, (prompt, response_a, response_b) in enumerate(pairs):
        row = {"index": index, "prompt": prompt}
        for first, (x, y) in (("A", (response_a, response_b)), ("B", (response_b, response_a))):
            key = judgment_key(judge.key, prompt, x, y)
            verdict = cache.entries.get(key)
            if verdict is None:
                verdict = judge(prompt, x, y)
                counts["asked"] += 1
                if verdict.failed:
                    counts["failed"] += 1
                else:
                    cache.add(key, verdict)
            else:
                counts["cached"] += 1
            row[f"{first.lower()}_first_slot"] = verdict.choice
            row[f"{first.lower()}_first_winner"] = winner(verdict.choice, first)
            bar.update(1)
        rows.append(row)
    bar.close()
    return rows, counts


def summarize(cfg: WinrateConfig, rows, counts, judge, skipped_long: int, unmatched: int) -> dict:
    """The summary object (`--json`): the tally plus the judge's bookkeeping."""
    result = tally(
        [r["a_first_winner"] for r in rows],
        [r["b_first_winner"] for r in rows],
        [r[k] for r in rows for k in ("a_first_slot", "b_first_slot")],
        cfg.interval,
        np.random.default_rng(cfg.seed),
        cfg.bootstrap_rounds,
    )
    summary = asdict(result)
    summary.update(counts, judge=judge.key, skipped_long=skipped_long, unmatched=unmatched)
    if hasattr(judge, "stats"):
        summary.update(
            requests=judge.stats["requests"],
            retries=judge.stats["retries"],
            unparseable=judge.stats["unparseable"],
        )
    return summary


def write_csv(path: Path, rows, scores) -> None:
    fields = [
        "index",
        "a_first_slot",
        "a_first_winner",
        "b_first_slot",
        "b_first_winner",
        "score_a",
        "prompt",
    ]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fields)
        writer.writeheader()
        for row, score in zip(rows, scores, strict=True):
            writer.writerow({**row, "score_a": "" if score is None else score})


def check(cfg: WinrateConfig) -> None:
    """Every flag checked before any file is judged or a model loaded."""
    if not cfg.a or not cfg.b:
        raise UserError("winrate needs --a and --b (JSONL files from `generate`)")
    judge_kind(cfg.judge)
    if cfg.max_chars < 1 or cfg.bootstrap_rounds < 1 or (cfg.limit is not None and cfg.limit < 1):
        raise UserError("--max-chars, --bootstrap-rounds and --limit must be ≥ 1")
    if cfg.timeout <= 0 or cfg.retries < 0 or cfg.backoff < 0 or cfg.requests_per_second <= 0:
        raise UserError(
            "--timeout and --requests-per-second must be > 0, --retries and --backoff ≥ 0"
        )


def main(cfg: WinrateConfig) -> dict:
    """Judge, tally, write the folder → the summary dict."""
    check(cfg)
    pairs, unmatched = pair_up(read_responses(cfg.a), read_responses(cfg.b))
    if not pairs:
        raise UserError(f"{cfg.a} and {cfg.b} share no prompt")
    short = [p for p in pairs if max(len(p[1]), len(p[2])) <= cfg.max_chars]
    skipped_long = len(pairs) - len(short)
    short = short[: cfg.limit]
    config = {"kind": "winrate", **asdict(cfg)}
    with claim_run_dir(cfg.run_dir(), config, cfg.resume, cfg.overwrite) as out:
        return _judge(cfg, out, short, skipped_long, unmatched)


def _judge(cfg: WinrateConfig, out: Path, short: list, skipped_long: int, unmatched: int) -> dict:
    judge = load_judge(cfg.judge, chat_settings(cfg))
    cache = JudgmentCache(out / "judgments.jsonl")
    try:
        rows, counts = judge_all(cfg, judge, short, cache)
    finally:
        cache.close()
    summary = summarize(cfg, rows, counts, judge, skipped_long, unmatched)
    if summary["n"] == 0:  # no verdict at all: a win rate of 0.5 would be made up
        raise UserError(
            f"the judge {judge.key} judged none of {len(rows)} prompts (invalid "
            f"{summary['invalid']}, failed {summary['failed']}): no win rate; "
            f"{out / 'judgments.jsonl'} keeps what it answered (rerun with --resume)"
        )
    scores = [prompt_verdict(r["a_first_winner"], r["b_first_winner"]) for r in rows]
    write_csv(out / "winrate.csv", rows, scores)
    write_json(out / "summary.json", summary)
    return summary
