"""`trends --runs DIR`: the paper's multi-epoch signatures, checked on finished runs.

Each `Signature` is one claim of the paper about a method's probe curves (Sec. 4, and the official
logs of Ren & Sutherland's code, quoted in `official`), and a check over the runs that can show
it. A run is read from its files only (`config.json`'s method and phase steps, `metrics.csv`'s
`logp` rows), so a user's own run, `--backend trl` or the `LearningDynamicsCallback`'s, is checked
the same way. Comparisons between two methods (extension vs baseline, on-policy vs off-policy)
read both the same number of steps into their last phase (DPO), the most that both evaluated.

A signature that does not hold is a finding, never an error: `verdict` says which, with the
numbers it was decided on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from common.errors import UserError
from common.probes import BYSTANDERS, Y_STAR
from common.runs import (
    COLUMNS,
    CONFIG,
    LOGP,
    METRICS,
    SUMMARY,
    complete,
    last_phase_start,
    read_metrics,
    run_files,
)
from simulator.metrics import Trace


@dataclass(frozen=True)
class Curve:
    """One probe type's mean summed log π(y|x_u) at each evaluation. Shapes: (n,) each."""

    steps: np.ndarray
    values: np.ndarray

    @property
    def start(self) -> float:
        return float(self.values[0])

    @property
    def end(self) -> float:
        return float(self.values[-1])

    @property
    def change(self) -> float:
        return self.end - self.start

    @property
    def peak(self) -> float:
        return float(self.values.max())

    @property
    def peak_step(self) -> int:
        return int(self.steps[int(self.values.argmax())])

    def at(self, step: int) -> float:
        """The value at the last evaluation at or before `step`."""
        return float(self.values[np.searchsorted(self.steps, step, side="right") - 1])

    def since(self, step: int) -> Curve:
        """The evaluations from `step` on (a phase that starts there)."""
        keep = self.steps >= step
        return Curve(self.steps[keep], self.values[keep])

    def first_below_start(self) -> int | None:
        """The first evaluation step below the start, or None."""
        below = np.flatnonzero(self.values[1:] < self.values[0])
        return int(self.steps[1 + below[0]]) if below.size else None

    def text(self) -> str:
        """'start → peak (step s) → end', in nats."""
        return f"{self.start:.1f} → peak {self.peak:.1f} (step {self.peak_step}) → {self.end:.1f}"


@dataclass(frozen=True)
class Run:
    """A finished run: its folder name, method, the first step of its last phase, its curves."""

    name: str
    method: str
    last_phase_start: int
    curves: dict[str, Curve]

    def phase(self) -> dict[str, Curve]:
        """The curves of the last phase (DPO after an SFT stage), from its first evaluation."""
        return {k: c.since(self.last_phase_start) for k, c in self.curves.items()}


def completed_evaluations(rows: list[dict], whole: bool) -> list[dict]:
    """The `logp` rows of a run still going, through its last completed evaluation: the last
    step's rows are dropped unless the file ends with a whole line (`whole`) and that step has
    every probe type of the first (a process killed while it appended tears the last lines)."""
    rows = [r for r in rows if complete(r)]
    if not rows:
        return rows
    last = max(int(r["step"]) for r in rows)
    types = lambda s: {r["probe_type"] for r in rows if int(r["step"]) == s}
    if whole and types(last) == types(min(int(r["step"]) for r in rows)):
        return rows
    return [r for r in rows if int(r["step"]) != last]


def read_run(folder: Path) -> Run:
    """A run folder (config.json + metrics.csv) as a `Run`; UserError if either is unreadable.
    A run without summary.json is still going (or was stopped): it is read through its last
    completed evaluation and its name says so."""
    try:
        config = json.loads((folder / CONFIG).read_text())
        rows = [r for r in read_metrics(folder / METRICS) if r["metric"] == LOGP]
        name = folder.name
        if not (folder / SUMMARY).is_file():
            whole = (folder / METRICS).read_bytes().endswith(b"\n")
            rows = completed_evaluations(rows, whole)
            last = max((int(r["step"]) for r in rows), default=0)
            total = last_phase_start(config) + int(config.get("steps", 0))
            name = f"{folder.name}, in progress: through step {last} of {total}"
        trace = Trace.from_rows([tuple(r[c] for c in COLUMNS) for r in rows])
        curves = {k: Curve(*trace.series(k)) for k in dict.fromkeys(trace.probe_type.tolist())}
    except (OSError, ValueError, KeyError) as err:
        raise UserError(f"--runs: cannot read the run in {folder}: {err}") from None
    if not curves:
        raise UserError(f"--runs: {folder / METRICS} has no {LOGP} rows")
    return Run(name, str(config.get("method") or "?"), last_phase_start(config), curves)


def find_runs(root: Path, method: str | None = None) -> tuple[dict[str, Run], list[str]]:
    """{method: run} of root (one run folder, or a folder of them), and a note for every run
    not used: a second run of a method already found (the first by folder name is used), or a
    run whose config.json names no method (`method` names it, e.g. for a user's trl run)."""
    if not root.is_dir():
        raise UserError(f"--runs: no such folder {root}")
    folders = [path.parent for path in run_files(root, METRICS)]
    if not folders:
        raise UserError(f"--runs: no {METRICS} in {root} or its subfolders")
    runs, notes = {}, []
    for folder in folders:
        run = read_run(folder)
        if run.method == "?" and method is not None:
            run = replace(run, method=method)
        if run.method == "?":
            notes.append(f"{run.name}: config.json names no method; give --method")
            continue
        last = max(int(c.steps[-1]) for c in run.curves.values())
        if last <= run.last_phase_start:
            notes.append(
                f"{run.name}: no evaluation yet after its last phase began (step "
                f"{run.last_phase_start})"
            )
            continue
        if run.method in runs:
            notes.append(
                f"{run.name}: a second {run.method} run; using {runs[run.method].name} (first by name)"
            )
            continue
        runs[run.method] = run
    return runs, notes


@dataclass(frozen=True)
class Verdict:
    holds: bool
    ours: str  # the numbers it was decided on

    @property
    def text(self) -> str:
        """`ours` with typographic minus signs, as the official logs' numbers are written."""
        return re.sub(r"-(?=\d)", "−", self.ours)


Check = Callable[..., Verdict]


@dataclass(frozen=True)
class Signature:
    """A claim, the methods whose runs it reads (in the check's argument order), the official
    logs' numbers, and the check."""

    key: str
    claim: str
    methods: tuple[str, ...]
    official: str
    check: Check


# --- checks: each reads the curves of the runs of `methods`, in order -------------------------


def _rises_then_ends_below(run: Run) -> Verdict:
    c = run.phase()["chosen"]
    below = c.first_below_start()
    where = f"; first below its start at step {below}" if below is not None else ""
    return Verdict(c.peak > c.start and c.end < c.start, f"y⁺ {c.text()}{where}")


def _falls_most(kind: str) -> Check:
    def check(run: Run) -> Verdict:
        changes = {k: c.change for k, c in run.phase().items() if k != Y_STAR}
        ranked = sorted(changes, key=changes.get)
        more = ", ".join(f"{k} {changes[k]:+.1f}" for k in ranked[: ranked.index(kind)])
        text = f"{kind} {changes[kind]:+.1f}, rank {ranked.index(kind) + 1} of {len(ranked)}"
        return Verdict(ranked[0] == kind, text + (f" (falling more: {more})" if more else ""))

    return check


def _bystanders_end_below(run: Run) -> Verdict:
    curves = run.phase()
    kinds = [k for k in BYSTANDERS if k in curves]
    above = [k for k in kinds if curves[k].change >= 0]
    changes = ", ".join(f"{k} {curves[k].change:+.1f}" for k in kinds)
    tail = f"; not below: {', '.join(above)}" if above else ""
    return Verdict(not above and bool(kinds), changes + tail)


def _rises_first(kind: str) -> Check:
    def check(run: Run) -> Verdict:
        c = run.phase()[kind]
        rose = c.peak > c.start and c.peak_step < int(c.steps[-1])
        return Verdict(
            rose and c.end < c.peak,
            f"{kind} {c.text()}: {c.peak - c.start:+.1f} at its peak, {c.change:+.1f} at the end",
        )

    return check


def _ends_above(kind: str) -> Check:
    def check(run: Run) -> Verdict:
        c = run.phase()[kind]
        return Verdict(c.end > c.start, f"{kind} {c.text()}: {c.change:+.1f}")

    return check


def _rises(kind: str) -> Check:
    """Rises at some evaluation (the peak is above the start), whatever the end."""

    def check(run: Run) -> Verdict:
        c = run.phase()[kind]
        return Verdict(c.peak > c.start, f"{kind} {c.text()}: {c.peak - c.start:+.1f} at its peak")

    return check


def _ends_below(kind: str) -> Check:
    def check(run: Run) -> Verdict:
        c = run.phase()[kind]
        return Verdict(c.end < c.start, f"{kind} {c.text()}: {c.change:+.1f}")

    return check


def _common_phase_steps(a: Run, b: Run) -> int:
    """The most steps into their last phases that both runs evaluated: two methods are compared
    that many steps after each one's DPO began (a run's SFT stage may be longer than the other's)."""
    return int(
        min(
            a.curves["chosen"].steps[-1] - a.last_phase_start,
            b.curves["chosen"].steps[-1] - b.last_phase_start,
        )
    )


def _extension_lifts_rejected(extended: Run, baseline: Run) -> Verdict:
    e = extended.curves["rejected"].at(extended.last_phase_start)
    b = baseline.curves["rejected"].at(baseline.last_phase_start)
    start = extended.curves["rejected"].start
    return Verdict(
        e > b,
        f"y⁻ as DPO starts: {e:.1f} after SFT on y⁺ and y⁻ (step {extended.last_phase_start}) vs "
        f"{b:.1f} after SFT on y⁺ (step {baseline.last_phase_start}; both from {start:.1f})",
    )


def _extension_ends_chosen_higher(extended: Run, baseline: Run) -> Verdict:
    n = _common_phase_steps(extended, baseline)
    e = extended.curves["chosen"].at(extended.last_phase_start + n)
    b = baseline.curves["chosen"].at(baseline.last_phase_start + n)
    return Verdict(e > b, f"y⁺ after {n} DPO steps: {e:.1f} (extension) vs {b:.1f} (baseline)")


def _onpolicy_spares_bystanders(onpolicy: Run, offpolicy: Run) -> Verdict:
    step = _common_phase_steps(onpolicy, offpolicy)  # both are DPO from step 0
    kinds = [k for k in BYSTANDERS if k in onpolicy.curves and k in offpolicy.curves]

    def mean_change(run: Run) -> float:
        return float(np.mean([run.curves[k].at(step) - run.curves[k].start for k in kinds]))

    on, off = mean_change(onpolicy), mean_change(offpolicy)
    spared = sum(
        onpolicy.curves[k].at(step) - onpolicy.curves[k].start
        > offpolicy.curves[k].at(step) - offpolicy.curves[k].start
        for k in kinds
    )
    return Verdict(
        on > off,
        f"mean change of the {len(kinds)} untrained types by step {step}: {on:+.1f} on-policy vs "
        f"{off:+.1f} off-policy; {spared} of {len(kinds)} fall less on-policy",
    )


PYTHIA, QWEN = "Pythia-410M", "Qwen1.5-0.5B"
SIGNATURES: tuple[Signature, ...] = (
    Signature(
        "dpo_chosen_peak_then_below",
        "DPO: y⁺ rises to a peak, then ends below its start",
        ("dpo",),
        f"{PYTHIA}: −151.98 → peak −147.91 (eval 40 of 137) → −156.22, below its start from "
        f"eval 57; {QWEN}: −132.67 → peak −132.27 (eval 27 of 160) → −159.83",
        _rises_then_ends_below,
    ),
    Signature(
        "dpo_rejected_falls_most",
        "DPO: y⁻ falls most",
        ("dpo",),
        f"{PYTHIA} (50 evals): y⁻ −76.3; only the random strings fall more (random_permute "
        "−90.1, random_nonhum −79.1)",
        _falls_most("rejected"),
    ),
    Signature(
        "dpo_others_end_below",
        "DPO: every other type ends below its start",
        ("dpo",),
        f"{PYTHIA}: y⁻_gpts −32.0, y⁻_gptf −31.7, irr_train −29.6, irr_test −49.0, irr_hum "
        "−34.7, random_permute −90.1, random_nonhum −79.1; Pythia-1B, 10 epochs: all but y* fall",
        _bystanders_end_below,
    ),
    Signature(
        "dpo_irr_train_rises_first",
        "DPO: irr_train rises first, then falls",
        ("dpo",),
        f"{PYTHIA}: +3.1, then −29.6 at the end; Pythia-1B: +4.2 first",
        _rises_first("irr_train"),
    ),
    Signature(
        "dpo_y_star_rises",
        "DPO: y* rises",
        ("dpo",),
        f"{PYTHIA}: −61.56 → −41.16; {QWEN}: −51.58 → −35.86",
        _ends_above(Y_STAR),
    ),
    Signature(
        "sft_chosen_rises",
        "SFT: y⁺ rises",
        ("sft",),
        f"{PYTHIA}, 8 epochs: −151.98 → −92.42; {QWEN}: −132.67 → −87.38",
        _ends_above("chosen"),
    ),
    Signature(
        "sft_y_star_rises",
        "SFT: y* rises",
        ("sft",),
        f"{PYTHIA}: +17.1; {QWEN}: +10.2",
        _ends_above(Y_STAR),
    ),
    Signature(
        "sft_irr_train_rises",
        "SFT: irr_train rises (other prompts' answers: hallucination)",
        ("sft",),
        "Qwen1.5-1.8B, SFT on y⁺ and y⁻: +22.8, monotone",
        _rises("irr_train"),
    ),
    Signature(
        "sft_random_permute_falls",
        "SFT: random_permute falls",
        ("sft",),
        "Qwen1.5-1.8B, SFT on y⁺ and y⁻: −15.1",
        _ends_below("random_permute"),
    ),
    Signature(
        "sft_random_nonhum_falls",
        "SFT: random_nonhum falls",
        ("sft",),
        "Qwen1.5-1.8B, SFT on y⁺ and y⁻: −13.8",
        _ends_below("random_nonhum"),
    ),
    Signature(
        "extension_lifts_rejected",
        "Extension: y⁻ starts DPO higher than after SFT on y⁺ alone",
        ("extend-dpo", "sft-dpo"),
        "Qwen1.5-1.8B, SFT on y⁺ and y⁻: y⁻ −97.14 → −60.58 (y⁺ −122.78 → −79.20)",
        _extension_lifts_rejected,
    ),
    Signature(
        "extension_chosen_ends_higher",
        "Extension: y⁺ ends DPO higher than the baseline's",
        ("extend-dpo", "sft-dpo"),
        "paper Sec. 4.3 (figure; no log numbers quoted here)",
        _extension_ends_chosen_higher,
    ),
    Signature(
        "onpolicy_spares_untrained",
        "On-policy DPO: the untrained types fall less than under off-policy DPO",
        ("onpolicy-dpo", "dpo"),
        "paper Sec. 4.4 (figure; no log numbers quoted here)",
        _onpolicy_spares_bystanders,
    ),
)


def _decide(sig: Signature, runs: dict[str, Run]) -> dict:
    """{runs, ours, verdict} of one signature on the runs found."""
    missing = [m for m in sig.methods if m not in runs]
    if missing:
        return {"runs": [], "ours": f"no {', '.join(missing)} run", "verdict": "not run"}
    names = [runs[m].name for m in sig.methods]
    try:
        v = sig.check(*(runs[m] for m in sig.methods))
    except KeyError as err:  # a probe type the run did not track
        return {"runs": names, "ours": f"{err} not tracked", "verdict": "not run"}
    return {"runs": names, "ours": v.text, "verdict": "holds" if v.holds else "finding"}


def evaluate(runs: dict[str, Run]) -> list[dict]:
    """One row per signature: claim, official, runs read, ours and verdict (holds / finding /
    not run, when a method's run is missing)."""
    return [
        {"key": sig.key, "claim": sig.claim, "official": sig.official, **_decide(sig, runs)}
        for sig in SIGNATURES
    ]


def markdown(rows: list[dict]) -> str:
    """The rows as a Markdown table (the README's trend table)."""
    lines = ["| trend | official logs | ours (runs) | verdict |", "|---|---|---|---|"]
    for r in rows:
        runs = f" ({', '.join(r['runs'])})" if r["runs"] else ""
        verdict = "holds" if r["verdict"] == "holds" else f"**{r['verdict']}**"
        lines.append(f"| {r['claim']} | {r['official']} | {r['ours']}{runs} | {verdict} |")
    return "\n".join(lines)
