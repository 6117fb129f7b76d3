"""`python -m figures [--out DIR] [--runs DIR] [--only NAME,…] [--format png,pdf] [--ema α]`.

Draws every simulator figure, and the llm_validation figures when --runs is given. Every user
mistake ends in one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

from threadpoolctl import threadpool_limits

from common.cliargs import add_config_args, config_from_args, option
from common.errors import OneLineParser, UserError, run_cli

from . import FIGURES, draw
from .runs import io
from .style import PAPER_EMA_ALPHA

FORMATS = ("png", "pdf", "svg")


PROG = "python -m figures"


@dataclass(frozen=True)
class FiguresConfig:
    """`python -m figures`: which figures, from which runs, in which formats."""

    out: Path = option(Path("figures/out"), "output folder (created)", type=Path)
    runs: Path | None = option(
        None,
        "a folder of llm_validation runs (runs/<name>/metrics.csv); default: none, the "
        "simulator figures only",
        type=Path,
    )
    only: str | None = option(
        None,
        f"comma-separated figure names or numbers: {', '.join(s.name for s in FIGURES)}; "
        "default: every figure that can be drawn",
        type=str,
    )
    format: str = option("png", f"comma-separated formats from {', '.join(FORMATS)}")
    ema: float = option(
        0.0, f"EMA smoothing α of probe curves, in [0, 1); the paper uses {PAPER_EMA_ALPHA}"
    )
    dpi: float | None = option(None, "raster resolution (default 110)", type=float)


def _parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog=PROG,
        description="Draw the teaching figures: 1–9 from the simulator, 10–14 and 16 from llm_validation "
        "runs when --runs is given.",
        epilog=f"examples:\n  {PROG}\n  {PROG} --runs runs/ --only 10,13,14 --format png,pdf",
    )
    add_config_args(p, FiguresConfig)
    return p


def _formats(text: str) -> tuple[str, ...]:
    formats = tuple(f.strip().lower() for f in text.split(",") if f.strip())
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise UserError(
            f"--format: unknown format {', '.join(bad) or repr(text)}; choose from {', '.join(FORMATS)}"
        )
    return formats


def _missing(spec, runs: Path) -> str | None:
    """Why `runs` cannot feed the figure (no run file, or no run of a method it compares)."""
    if not io.find(runs, spec.run_file):
        return f"no {spec.run_file} in {runs} or its subfolders"
    absent = [m for m in spec.run_methods if io.find_method(runs, m) is None]
    if absent:
        return f"no {' or '.join(absent)} run in {runs} (config.json's method)"
    return None


def _has_runs(spec, runs: Path) -> bool:
    return _missing(spec, runs) is None


def _named(only: str) -> list:
    """The figures `--only` names (by name or number), in the order given."""
    by_key = {s.name: s for s in FIGURES} | {str(s.number): s for s in FIGURES}
    keys = [k.strip() for k in only.split(",") if k.strip()]
    unknown = [k for k in keys if k not in by_key]
    if unknown or not keys:
        raise UserError(
            f"--only: unknown figure {', '.join(unknown) or repr(only)}; known: {', '.join(s.name for s in FIGURES)}"
        )
    return list(dict.fromkeys(by_key[k] for k in keys))


def _selected(only: str | None, runs: Path | None) -> list:
    if only is None:
        if runs is not None and not any(_has_runs(s, runs) for s in FIGURES if s.needs_runs):
            raise UserError(
                f"--runs: no {io.METRICS} or {io.PREDICTIONS} in {runs} or its subfolders"
            )
        return [s for s in FIGURES if not s.needs_runs or (runs is not None and _has_runs(s, runs))]
    chosen = _named(only)
    drawable = [s for s in chosen if not s.needs_runs or (runs is not None and _has_runs(s, runs))]
    if not drawable:  # nothing to draw: one line naming why, for each
        why = "; ".join(f"{s.name}: {_why_skipped(s, runs)}" for s in chosen)
        raise UserError(f"--only: nothing can be drawn ({why})")
    return drawable


def _check(args) -> None:
    if args.out.exists() and not args.out.is_dir():
        raise UserError(f"--out: {args.out} exists and is not a folder")
    if args.runs is not None and not args.runs.is_dir():
        raise UserError(f"--runs: no such folder {args.runs}")
    if not 0.0 <= args.ema < 1.0:
        raise UserError(f"--ema must lie in [0, 1), got {args.ema}")
    if args.dpi is not None and not 10 <= args.dpi <= 600:
        raise UserError(f"--dpi must lie in [10, 600], got {args.dpi}")


def main(argv: list[str] | None = None) -> int:
    """Check every flag before drawing; a user's mistake is one line on stderr, exit status 2."""

    def body() -> None:
        args = config_from_args(FiguresConfig, _parser().parse_args(argv))
        _check(args)
        formats = _formats(args.format)
        specs = _selected(args.only, args.runs)
        asked = FIGURES if args.only is None else _named(args.only)
        for spec in asked:  # the full run and --only alike: draw what can be, name the rest
            if spec.needs_runs and spec not in specs:
                print(f"skipped {spec.stem}: {_why_skipped(spec, args.runs)}")
        for spec in list(specs):
            reason = spec.unavailable(spec.config(ema=args.ema, runs=args.runs))
            if reason is not None and args.only is not None:
                raise UserError(f"--only: {spec.name} cannot be drawn: {reason}")
            if reason is not None:
                print(f"skipped {spec.stem}: {reason}")
                specs.remove(spec)
        try:
            with threadpool_limits(limits=1):  # small matrices: extra BLAS threads only contend
                _draw_all(specs, args, formats)
        except io.RunFileError as err:
            raise UserError(str(err)) from err

    return run_cli(PROG, body)


def _why_skipped(spec, runs: Path | None) -> str:
    if runs is None:
        return "it reads llm_validation runs; give --runs DIR"
    return _missing(spec, runs)


def _draw_all(specs, args, formats: tuple[str, ...]) -> None:
    start = time.perf_counter()
    for spec in specs:
        t = time.perf_counter()
        cfg = spec.config(ema=args.ema, runs=args.runs)
        paths = draw(spec, cfg, args.out, formats, dpi=args.dpi)
        sizes = ", ".join(f"{p} ({p.stat().st_size / 1024:.0f} kB)" for p in paths)
        print(f"[{time.perf_counter() - t:5.1f} s] {sizes}")
    plural = "" if len(specs) == 1 else "s"
    print(f"{len(specs)} figure{plural} in {time.perf_counter() - start:.1f} s → {args.out}")
