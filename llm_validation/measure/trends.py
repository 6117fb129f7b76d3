"""`trends --runs DIR`: the paper's multi-epoch signatures, checked on runs, with intervals.

Each `Signature` is one claim of the paper about a method's probe curves (Sec. 4, and the official
logs of Ren & Sutherland's code, quoted in `official`), and a check over the runs that can show
it. A run is read from its files only (`config.json`'s method and phase steps, `metrics.csv`'s
`logp` rows, `prompts.csv`'s per-prompt values), so a user's own run, `--backend trl` or the
`LearningDynamicsCallback`'s, is checked the same way, and so is a run still going (its complete
evaluations so far; a torn last line is dropped).

Every check measures effects (a change, a rise to the peak, a difference between runs) and
decides with their 95 % intervals over probe prompts (`core.intervals`: paired bootstrap, a
simultaneous band for a step chosen from the data, Bonferroni across a family): `holds`,
`contradicted` or `inconclusive`; `not run` when a method's run or a probe type is missing.
Several runs of one setting that differ only in their seed are pooled (per-prompt values averaged
over seeds, prompts resampled). Runs without `prompts.csv` get the point estimate, `no interval`,
and a noise floor in place of zero. Comparisons between two methods (extension vs baseline,
on-policy vs off-policy) read both the same number of steps into their last phase (DPO), the most
that both evaluated, paired on the prompts both probed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from common.errors import UserError
from common.probes import BYSTANDERS, Y_STAR
from common.runs import (
    CONFIG,
    LOGP,
    METRICS,
    PROMPT_COLUMNS,
    PROMPTS,
    SUMMARY,
    complete,
    last_phase_start,
    load_metrics,
    read_metrics,
    run_files,
    run_phases,
)
from llm_validation.core.intervals import (
    LEVEL,
    NOT_RUN,
    Effect,
    PromptSample,
    combine,
    noise_floor,
    percentile,
    simultaneous,
)
from simulator.metrics import Trace

# config.json keys that differ between seeds of one setting (or do not change what it measures)
SEED_KEYS = frozenset({"seed", "out", "resume", "overwrite", "progress", "device"})


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
    def peak(self) -> float:
        return float(self.values.max())

    @property
    def peak_step(self) -> int:
        return int(self.steps[int(self.values.argmax())])

    def first_below_start(self) -> int | None:
        """The first evaluation step below the start, or None."""
        below = np.flatnonzero(self.values[1:] < self.values[0])
        return int(self.steps[1 + below[0]]) if below.size else None

    def text(self) -> str:
        """'start → peak (step s) → end', in nats."""
        return f"{self.start:.1f} → peak {self.peak:.1f} (step {self.peak_step}) → {self.end:.1f}"


@dataclass(frozen=True)
class Run:
    """A run: its folder name, method, config, the first step of its last phase, its mean curves
    {type: (steps, values)} and, when it wrote prompts.csv, its per-prompt values
    {type: Shape (S, P)} on `prompt_steps` × `prompt_ids`."""

    name: str
    method: str
    last_phase_start: int
    curves: dict[str, Curve]
    config: dict = field(default_factory=dict)
    prompt_steps: np.ndarray | None = None
    prompt_ids: tuple[str, ...] = ()
    prompt_values: dict[str, np.ndarray] = field(default_factory=dict)
    in_progress: bool = False

    def through(self, step: int) -> Run:
        """The run as if it had stopped after its evaluation at `step` (`trends --until`): every
        curve and per-prompt series cut to the evaluations at or before it."""
        curves = {
            k: Curve(c.steps[c.steps <= step], c.values[c.steps <= step])
            for k, c in self.curves.items()
        }
        if self.prompt_steps is None:
            return replace(self, curves=curves)
        keep = self.prompt_steps <= step
        values = {k: v[keep] for k, v in self.prompt_values.items()}
        return replace(
            self, curves=curves, prompt_steps=self.prompt_steps[keep], prompt_values=values
        )

    def differences(self, other: Run) -> list[str]:
        """The config keys in which `other` differs from this run, seeds and paths aside."""
        keys = (self.config.keys() | other.config.keys()) - SEED_KEYS
        return sorted(k for k in keys if self.config.get(k) != other.config.get(k))

    @property
    def setting(self) -> str:
        """The config without what differs between seeds: runs with equal settings are pooled."""
        rest = {k: v for k, v in self.config.items() if k not in SEED_KEYS}
        return json.dumps({**rest, "method": self.method}, sort_keys=True, default=str)


def _read_prompts(folder: Path, steps: np.ndarray) -> tuple[np.ndarray | None, tuple, dict]:
    """prompts.csv as (steps, prompt ids, {type: Shape (S, P)}), on the steps metrics.csv
    completed and the prompts present at every one of them; (None, (), {}) without the file."""
    path = folder / PROMPTS
    if not path.is_file():
        return None, (), {}
    table: dict[str, dict[tuple[int, str], float]] = {}
    for r in read_metrics(path):
        if complete(r, PROMPT_COLUMNS):
            table.setdefault(r["probe_type"], {})[int(r["step"]), r["prompt"]] = float(r["logp"])
    if not table:
        return None, (), {}
    ids = sorted({p for cells in table.values() for _, p in cells})
    keep = [s for s in steps.tolist() if all((s, p) in table.get("chosen", {}) for p in ids)]
    values = {
        kind: np.array([[cells[s, p] for p in ids] for s in keep])
        for kind, cells in table.items()
        if all((s, p) in cells for s in keep for p in ids)
    }
    return np.array(keep, dtype=int), tuple(ids), values


def read_run(folder: Path) -> Run:
    """A run folder (config.json + metrics.csv [+ prompts.csv]) as a `Run`; UserError if either
    is unreadable. A run without summary.json is still going (or was stopped): its complete
    evaluations are read."""
    try:
        config = json.loads((folder / CONFIG).read_text())
        rows = [r for r in load_metrics(folder / METRICS) if r[3] == LOGP]  # checked rows
        trace = Trace.from_rows(rows)
        curves = {k: Curve(*trace.series(k)) for k in dict.fromkeys(trace.probe_type.tolist())}
        steps = curves["chosen"].steps if "chosen" in curves else np.array([], dtype=int)
        prompt_steps, ids, values = _read_prompts(folder, steps)
    except (OSError, ValueError, KeyError) as err:
        raise UserError(f"--runs: cannot read the run in {folder}: {err}") from None
    if not curves:
        raise UserError(f"--runs: {folder / METRICS} has no {LOGP} rows")
    return Run(
        folder.name,
        str(config.get("method") or "?"),
        last_phase_start(run_phases(folder)),
        curves,
        config,
        prompt_steps,
        ids,
        values,
        in_progress=not (folder / SUMMARY).is_file(),
    )


def find_runs(
    root: Path, method: str | None = None, until: int | None = None
) -> tuple[dict[str, list[Run]], list[str]]:
    """{method: its runs} of root (one run folder, or a folder of them): the first run of a
    method by folder name and every other run with the same settings but its seed (pooled as
    seeds); a note for every run not used (a run of the method with other settings, a run whose
    config.json names no method: `method` names it, e.g. for a user's trl run; a run whose last
    phase starts after `until`), for every run still going and for every run whose probes
    were held out of training. `until`: read each run through that step only (`Run.through`)."""
    if not root.is_dir():
        raise UserError(f"--runs: no such folder {root}")
    folders = [path.parent for path in run_files(root, METRICS)]
    if not folders:
        raise UserError(f"--runs: no {METRICS} in {root} or its subfolders")
    runs: dict[str, list[Run]] = {}
    notes = []
    for folder in folders:
        run = read_run(folder)
        if run.method == "?" and method is not None:
            run = replace(run, method=method)
        if run.method == "?":
            notes.append(f"{run.name}: config.json names no method; give --method")
            continue
        if until is not None:
            if run.last_phase_start >= until:
                notes.append(
                    f"{run.name}: its last phase starts at step {run.last_phase_start}, not "
                    f"before --until {until}; not read"
                )
                continue
            run = run.through(until)
            last = max(int(c.steps[-1]) for c in run.curves.values() if c.steps.size)
            notes.append(f"{run.name}: read through step {last} (--until {until})")
        if held := run.config.get("hold_out"):
            notes.append(
                f"{run.name}: its probes are {held} prompts held out of training (--hold-out): "
                "its y⁺ and y⁻ answer prompts it never trains on, where the paper's y⁺ and y⁻ "
                "claims are about trained pairs"
            )
        if run.in_progress:
            last = int(run.curves["chosen"].steps[-1]) if "chosen" in run.curves else 0
            notes.append(f"{run.name}: no {SUMMARY} (still going?): read through step {last}")
        first = runs.setdefault(run.method, [run])[0]
        if first is run:
            continue
        if run.setting == first.setting:
            runs[run.method].append(run)
        else:
            notes.append(
                f"{run.name}: a second {run.method} run with other settings "
                f"({', '.join(first.differences(run))}); using {first.name} (first by name); "
                f"--runs {folder} reads it"
            )
    return runs, notes


# --- evidence: the curves a check reads, with or without per-prompt values ------------------


def _phase_from(steps: np.ndarray, start: int) -> int:
    """Index of the last evaluation at or before `start` (a phase's first value)."""
    return max(int(np.searchsorted(steps, start, side="right")) - 1, 0)


@dataclass
class Evidence:
    """The series of the runs a signature reads, keyed `"<i>:<type>"` for the i-th method of the
    signature, each from its last phase's first evaluation on. With per-prompt values of every
    run (`sample`), the series are per-prompt (seeds averaged, shared prompts) and effects get
    intervals; otherwise means only."""

    steps: dict[str, np.ndarray]
    means: dict[str, np.ndarray]
    sample: PromptSample | None
    n_seeds: tuple[int, ...]
    phase_starts: tuple[int, ...]
    rng: np.random.Generator

    _boot: dict | None = None

    def boot(self) -> dict[str, np.ndarray]:
        """The bootstrap means of every series, drawn once: all effects of one signature are
        read off the same resamples (paired). Shape: (B, S) each."""
        if self._boot is None:
            self._boot = self.sample.boot_means(self.rng)
        return self._boot

    def has(self, i: int, kind: str) -> bool:
        return f"{i}:{kind}" in self.means

    def curve(self, i: int, kind: str) -> Curve:
        key = f"{i}:{kind}"
        return Curve(self.steps[key], self.means[key])

    def index(self, i: int, kind: str, step: int) -> int:
        """Index of the last evaluation at or before `step` in series (i, kind)."""
        return max(int(np.searchsorted(self.steps[f"{i}:{kind}"], step, side="right")) - 1, 0)

    @property
    def n_prompts(self) -> int | None:
        return None if self.sample is None else self.sample.n_prompts

    def fixed(
        self,
        name: str,
        statistic: Callable[[dict], np.ndarray],
        sign: int,
        levels: Sequence[float],
        level: float = LEVEL,
    ) -> Effect:
        """An effect fixed in advance: percentile interval, or the noise floor of `levels`."""
        value = float(statistic(self.means))
        if self.sample is None:
            return Effect(name, value, None, None, sign, noise_floor(*levels))
        low, high = percentile(statistic(self.boot()), level)
        return Effect(name, value, low, high, sign)

    def banded(self, name: str, curve: Callable[[dict], np.ndarray], at: int, sign: int, levels):
        """A per-step statistic read at index `at` chosen from the data: the simultaneous band."""
        observed = curve(self.means)
        value = float(observed[at])
        if self.sample is None:
            return Effect(name, value, None, None, sign, noise_floor(*levels))
        low, high = simultaneous(observed, curve(self.boot()))
        return Effect(name, value, float(low[at]), float(high[at]), sign)


def _seed_average(runs: list[Run]) -> tuple[dict, dict, dict | None]:
    """(steps, mean curves, per-prompt values or None) of a setting's runs: steps all seeds
    evaluated, per type all seeds tracked, means and per-prompt values averaged over seeds."""
    kinds = set.intersection(*(set(r.curves) for r in runs))
    steps = {k: _common([r.curves[k].steps for r in runs]) for k in kinds}
    means = {
        k: np.mean([r.curves[k].values[np.isin(r.curves[k].steps, steps[k])] for r in runs], 0)
        for k in kinds
    }
    if any(r.prompt_steps is None for r in runs):
        return steps, means, None
    ids = sorted(set.intersection(*(set(r.prompt_ids) for r in runs)))
    grid = _common([r.prompt_steps for r in runs])
    kinds_p = set.intersection(*(set(r.prompt_values) for r in runs)) & kinds
    if len(ids) < 2 or grid.size == 0:
        return steps, means, None
    per_prompt = {}
    for k in kinds_p:
        stack = []
        for r in runs:
            rows = np.isin(r.prompt_steps, grid)
            cols = [r.prompt_ids.index(p) for p in ids]
            stack.append(r.prompt_values[k][rows][:, cols])
        per_prompt[k] = (grid, ids, np.mean(stack, axis=0))  # (S, P)
    return steps, means, per_prompt


def _common(arrays: list[np.ndarray]) -> np.ndarray:
    out = arrays[0]
    for a in arrays[1:]:
        out = np.intersect1d(out, a)
    return np.asarray(out, dtype=int)


def gather(groups: list[list[Run]], rng: np.random.Generator) -> Evidence:
    """The evidence of the settings a signature reads (one list of seed runs per method)."""
    steps, means, per_prompt, starts = {}, {}, {}, []
    with_prompts = True
    for i, runs in enumerate(groups):
        start = max(r.last_phase_start for r in runs)
        starts.append(start)
        s, m, pp = _seed_average(runs)
        for k in s:
            j = _phase_from(s[k], start)
            steps[f"{i}:{k}"], means[f"{i}:{k}"] = s[k][j:], m[k][j:]
        if pp is None:
            with_prompts = False
        else:
            for k, (grid, ids, values) in pp.items():
                j = _phase_from(grid, start)
                per_prompt[f"{i}:{k}"] = (grid[j:], ids, values[j:])
    sample = None
    if with_prompts and per_prompt:
        shared = sorted(set.intersection(*(set(ids) for _, ids, _ in per_prompt.values())))
        if len(shared) >= 2:
            values = {
                key: v[:, [ids.index(p) for p in shared]] for key, (_, ids, v) in per_prompt.items()
            }
            sample = PromptSample(values)
            steps = {key: grid for key, (grid, _, _) in per_prompt.items()}
            means = sample.means()
    return Evidence(steps, means, sample, tuple(len(g) for g in groups), tuple(starts), rng=rng)


# --- checks: each reads the evidence of its methods and returns (effects, text) -------------

Result = tuple[list[Effect], str]
Check = Callable[[Evidence], Result]


@dataclass(frozen=True)
class Signature:
    """A claim, the methods whose runs it reads (in the check's index order), the official logs'
    numbers, the check, and how many evaluations of the last phase it needs: a trend is read off
    a trajectory (its start, its end and at least one evaluation between), never off one step."""

    key: str
    claim: str
    methods: tuple[str, ...]
    official: str
    check: Check
    min_evaluations: int = 3


def _key(i: int, kind: str) -> str:
    return f"{i}:{kind}"


def _change(key: str) -> Callable[[dict], np.ndarray]:
    return lambda m: m[key][..., -1] - m[key][..., 0]


def _rise(key: str) -> Callable[[dict], np.ndarray]:
    """x̄[s] − x̄[0] at every step. Shape: (..., S)."""
    return lambda m: m[key] - m[key][..., :1]


def _fall_to_end(key: str) -> Callable[[dict], np.ndarray]:
    """x̄[end] − x̄[s] at every step. Shape: (..., S)."""
    return lambda m: m[key][..., -1:] - m[key]


def _peak(ev: Evidence, kind: str) -> tuple[Curve, int, Effect]:
    """The curve, its peak's index (the mean curve's argmax) and the rise to it with the band."""
    c = ev.curve(0, kind)
    at = int(c.values.argmax())
    rise = ev.banded("peak − start", _rise(_key(0, kind)), at, +1, [c.start])
    return c, at, rise


def _rises_then_ends_below(ev: Evidence) -> Result:
    c, _, rise = _peak(ev, "chosen")
    end = ev.fixed("end − start", _change(_key(0, "chosen")), -1, [c.start])
    below = c.first_below_start()
    where = f"; first below its start at step {below}" if below is not None else ""
    return [rise, end], f"y⁺ {c.text()}{where}"


def _rises_first(kind: str) -> Check:
    def check(ev: Evidence) -> Result:
        c, at, rise = _peak(ev, kind)
        fall = ev.banded("end − peak", _fall_to_end(_key(0, kind)), at, -1, [c.start])
        return [rise, fall], f"{kind} {c.text()}: {c.end - c.start:+.1f} at the end"

    return check


def _changes(kind: str, sign: int) -> Check:
    """kind ends above (sign +1) or below (−1) its start."""

    def check(ev: Evidence) -> Result:
        c = ev.curve(0, kind)
        return [ev.fixed("end − start", _change(_key(0, kind)), sign, [c.start])], (
            f"{kind} {c.text()}"
        )

    return check


def _rises(kind: str) -> Check:
    """Rises at some evaluation (the peak above the start, with the band), whatever the end."""

    def check(ev: Evidence) -> Result:
        c, _, rise = _peak(ev, kind)
        return [rise], f"{kind} {c.text()}"

    return check


def _family(ev: Evidence, members: dict[str, Callable], sign: int, levels) -> list[Effect]:
    """One effect per member, each at the Bonferroni level 1 − α/m (a claim about all m)."""
    level = 1.0 - (1.0 - LEVEL) / max(len(members), 1)
    return [
        ev.fixed(name, stat, sign, [levels[name]], level=level) for name, stat in members.items()
    ]


def _falls_most(kind: str) -> Check:
    def check(ev: Evidence) -> Result:
        mine = _key(0, kind)
        others = [
            k.split(":", 1)[1]
            for k in ev.means
            if k.startswith("0:") and k not in (mine, _key(0, Y_STAR))
        ]

        def margin(other):  # Δ other − Δ kind: > 0 when kind falls more
            return lambda m: _change(_key(0, other))(m) - _change(mine)(m)

        levels = {o: max(abs(ev.curve(0, o).start), abs(ev.curve(0, kind).start)) for o in others}
        effects = _family(
            ev,
            {f"Δ{o} − Δ{kind}": margin(o) for o in others},
            +1,
            {f"Δ{o} − Δ{kind}": levels[o] for o in others},
        )
        effects.sort(key=lambda e: e.value)
        changes = {k: ev.curve(0, k).end - ev.curve(0, k).start for k in (kind, *others)}
        ranked = sorted(changes, key=changes.get)
        more = ", ".join(f"{k} {changes[k]:+.1f}" for k in ranked[: ranked.index(kind)])
        text = f"{kind} {changes[kind]:+.1f}, rank {ranked.index(kind) + 1} of {len(ranked)}"
        return effects, text + (f" (falling more: {more})" if more else "")

    return check


def _bystanders_end_below(ev: Evidence) -> Result:
    kinds = [k for k in BYSTANDERS if ev.has(0, k)]
    levels = {k: ev.curve(0, k).start for k in kinds}
    effects = _family(ev, {k: _change(_key(0, k)) for k in kinds}, -1, levels)
    effects.sort(key=lambda e: -e.value)  # the least falling first: the one the claim rests on
    changes = ", ".join(f"{e.name} {e.value:+.1f}" for e in sorted(effects, key=lambda e: e.name))
    above = [e.name for e in effects if e.verdict != "holds"]
    tail = f"; not clearly below: {', '.join(sorted(above))}" if above else ""
    return effects, changes + tail


def _common_phase_steps(ev: Evidence, kind: str) -> int:
    """The most steps into their last phases that both runs evaluated: two methods are compared
    that many steps after each one's DPO began (a run's SFT stage may be longer than the other's)."""
    return int(
        min(ev.steps[_key(i, kind)][-1] - ev.phase_starts[i] for i in range(len(ev.phase_starts)))
    )


def _at(ev: Evidence, i: int, kind: str, step: int) -> Callable[[dict], np.ndarray]:
    j = ev.index(i, kind, step)
    return lambda m: m[_key(i, kind)][..., j]


def _extension_lifts_rejected(ev: Evidence) -> Result:
    e, b = _at(ev, 0, "rejected", ev.phase_starts[0]), _at(ev, 1, "rejected", ev.phase_starts[1])
    levels = [ev.curve(0, "rejected").start]
    effect = ev.fixed("extension − baseline", lambda m: e(m) - b(m), +1, levels)
    text = (
        f"y⁻ as DPO starts: {float(e(ev.means)):.1f} after SFT on y⁺ and y⁻ (step "
        f"{ev.phase_starts[0]}) vs {float(b(ev.means)):.1f} after SFT on y⁺ (step "
        f"{ev.phase_starts[1]})"
    )
    return [effect], text


def _extension_ends_chosen_higher(ev: Evidence) -> Result:
    n = _common_phase_steps(ev, "chosen")
    e = _at(ev, 0, "chosen", ev.phase_starts[0] + n)
    b = _at(ev, 1, "chosen", ev.phase_starts[1] + n)
    effect = ev.fixed(
        "extension − baseline", lambda m: e(m) - b(m), +1, [ev.curve(0, "chosen").start]
    )
    text = (
        f"y⁺ after {n} DPO steps: {float(e(ev.means)):.1f} (extension) vs "
        f"{float(b(ev.means)):.1f} (baseline)"
    )
    return [effect], text


def _onpolicy_spares_bystanders(ev: Evidence) -> Result:
    n = _common_phase_steps(ev, "chosen")  # both are DPO from step 0
    kinds = [k for k in BYSTANDERS if ev.has(0, k) and ev.has(1, k)]

    def mean_change(i: int) -> Callable[[dict], np.ndarray]:
        parts = [(_at(ev, i, k, n), _key(i, k)) for k in kinds]
        return lambda m: np.mean([at(m) - m[key][..., 0] for at, key in parts], axis=0)

    on, off = mean_change(0), mean_change(1)
    levels = [ev.curve(1, k).start for k in kinds]
    effect = ev.fixed("on − off", lambda m: on(m) - off(m), +1, levels)
    text = (
        f"mean change of the {len(kinds)} untrained types by step {n}: "
        f"{float(on(ev.means)):+.1f} on-policy vs {float(off(ev.means)):+.1f} off-policy"
    )
    return [effect], text


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
        _changes(Y_STAR, +1),
    ),
    Signature(
        "sft_chosen_rises",
        "SFT: y⁺ rises",
        ("sft",),
        f"{PYTHIA}, 8 epochs: −151.98 → −92.42; {QWEN}: −132.67 → −87.38",
        _changes("chosen", +1),
    ),
    Signature(
        "sft_y_star_rises",
        "SFT: y* rises",
        ("sft",),
        f"{PYTHIA}: +17.1; {QWEN}: +10.2",
        _changes(Y_STAR, +1),
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
        _changes("random_permute", -1),
    ),
    Signature(
        "sft_random_nonhum_falls",
        "SFT: random_nonhum falls",
        ("sft",),
        "Qwen1.5-1.8B, SFT on y⁺ and y⁻: −13.8",
        _changes("random_nonhum", -1),
    ),
    Signature(
        "extension_lifts_rejected",
        "Extension: y⁻ starts DPO higher than after SFT on y⁺ alone",
        ("extend-dpo", "sft-dpo"),
        "Qwen1.5-1.8B, SFT on y⁺ and y⁻: y⁻ −97.14 → −60.58 (y⁺ −122.78 → −79.20)",
        _extension_lifts_rejected,
        min_evaluations=1,
    ),
    Signature(
        "extension_chosen_ends_higher",
        "Extension: y⁺ ends DPO higher than the baseline's",
        ("extend-dpo", "sft-dpo"),
        "paper Sec. 4.3 (figure; no log numbers quoted here)",
        _extension_ends_chosen_higher,
        min_evaluations=2,  # values after n DPO steps: the phase's start and one more
    ),
    Signature(
        "onpolicy_spares_untrained",
        "On-policy DPO: the untrained types fall less than under off-policy DPO",
        ("onpolicy-dpo", "dpo"),
        "paper Sec. 4.4 (figure; no log numbers quoted here)",
        _onpolicy_spares_bystanders,
        min_evaluations=2,  # values after n DPO steps: the phase's start and one more
    ),
)


def _n_text(ev: Evidence) -> str:
    """'P × seeds' (seeds per method, '/'-separated); 'no prompts.csv' without an interval."""
    if ev.sample is None:
        return "no prompts.csv"
    return f"{ev.n_prompts} × {'/'.join(str(n) for n in ev.n_seeds)}"


def _decide(sig: Signature, runs: dict[str, list[Run]], seed: int) -> dict:
    """{runs, ours, effect, interval, n, verdict, parts} of one signature on the runs found."""
    missing = [m for m in sig.methods if m not in runs]
    empty = {"effect": None, "interval": None, "n": None, "parts": []}
    if missing:
        return {"runs": [], "ours": f"no {', '.join(missing)} run", "verdict": NOT_RUN, **empty}
    groups = [runs[m] for m in sig.methods]
    names = [r.name for g in groups for r in g]
    ev = gather(groups, np.random.default_rng(seed))
    fewest = min(
        len(ev.steps[_key(i, "chosen")]) for i in range(len(groups)) if ev.has(i, "chosen")
    )
    if fewest < sig.min_evaluations:
        ours = f"{fewest} evaluation(s) in the last phase; this claim needs {sig.min_evaluations}"
        return {"runs": names, "ours": ours, "verdict": "inconclusive", **empty}
    try:
        effects, text = sig.check(ev)
    except KeyError as err:  # a probe type the run did not track
        kind = str(err.args[0]).split(":", 1)[-1]
        return {"runs": names, "ours": f"{kind!r} not tracked", "verdict": NOT_RUN, **empty}
    main = _deciding(effects)
    interval = None if main.low is None else [main.low, main.high]
    parts = "; ".join(e.text() for e in effects[:3]) + ("; …" if len(effects) > 3 else "")
    return {
        "runs": names,
        "ours": _minus(f"{text}. {parts}"),
        "effect": main.value,
        "interval": interval,
        "n": {"prompts": ev.n_prompts, "seeds": list(ev.n_seeds), "text": _n_text(ev)},
        "verdict": combine(effects),
        "parts": [{**e.to_json(), "verdict": e.verdict} for e in effects],
    }


def _deciding(effects: list[Effect]) -> Effect:
    """The part the verdict rests on: the first contradicted, else the first inconclusive, else
    the first part (its effect and interval are the row's)."""
    for wanted in ("contradicted", "inconclusive"):
        for e in effects:
            if e.verdict == wanted:
                return e
    return effects[0]


def _minus(text: str) -> str:
    """Typographic minus signs, as the official logs' numbers are written."""
    return re.sub(r"-(?=\d)", "−", text)


def evaluate(runs: dict[str, list[Run]], seed: int = 0) -> list[dict]:
    """One row per signature: claim, official, runs read, ours, effect, interval, n and verdict
    (holds / contradicted / inconclusive / not run). `seed` seeds the bootstrap."""
    return [
        {"key": sig.key, "claim": sig.claim, "official": sig.official, **_decide(sig, runs, seed)}
        for sig in SIGNATURES
    ]


def _interval_text(row: dict) -> str:
    if row["interval"] is None:
        return "no interval" if row["effect"] is not None else "–"
    low, high = row["interval"]
    return _minus(f"[{low:+.1f}, {high:+.1f}]")


def markdown(rows: list[dict]) -> str:
    """The rows as a Markdown table (the trend table of docs/findings.md)."""
    lines = [
        "| trend | official logs | ours (runs) | effect | 95% interval | n prompts × seeds | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        runs = f" ({', '.join(r['runs'])})" if r["runs"] else ""
        effect = "–" if r["effect"] is None else _minus(f"{r['effect']:+.1f}")
        n = r["n"]["text"] if r["n"] else "–"
        verdict = r["verdict"] if r["verdict"] == "holds" else f"**{r['verdict']}**"
        lines.append(
            f"| {r['claim']} | {r['official']} | {r['ours']}{runs} | {effect} | "
            f"{_interval_text(r)} | {n} | {verdict} |"
        )
    return "\n".join(lines)
