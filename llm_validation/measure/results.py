"""`results`: the paper's claims at a glance, one row each, for the README's first screen.

Each `Claim` names how it is checked in three places and the test that pins it:

- the simulator: the paper's experiments on the synthetic probe world, run exactly as
  `python -m simulator run NAME --seed S` runs them, at seeds 0 … N−1; a check decides the claim
  on each seed's trends (and squeeze measures), and the cell says at how many seeds it holds,
  with seed 0's numbers;
- SmolLM2 on CPU and the GPU reference: the `trends` signature of the same claim, decided on the
  run folders given (effect, 95 % interval over probe prompts where the run wrote prompts.csv,
  verdict; `not run` without a run of the method);
- the test, by pytest node id.

Only this mapping is written here; every cell is computed when the table is made.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.markdown import check_block, write_block
from common.progress import say
from llm_validation.measure.trends import Run, evaluate, find_runs
from simulator import EXPERIMENTS, run_experiment, trends
from simulator.metrics import BYSTANDERS, dpo_picture, final_values

BLOCK = "results"  # README.md's <!-- results:begin --> … <!-- results:end -->
PAPER_TRENDS = "tests/simulator_experiments/test_paper_trends.py::"

# An outcome: {probe_type: {start, max, min, end}, "squeeze": {measure: value at the end}} of
# one experiment at one seed; a check reads {experiment: outcome} and says (holds, numbers).
Outcomes = dict[str, dict]
SimCheck = Callable[[Outcomes], tuple[bool, str]]


@dataclass(frozen=True)
class Claim:
    """A claim of the paper: the simulator experiments its check reads, the check, the `trends`
    signature that decides it on LM runs (None: none exists) and the test that pins it."""

    text: str
    experiments: tuple[str, ...]
    simulator: SimCheck
    signature: str | None
    test: str


def _num(x: float, scale: float | None = None) -> str:
    """A signed number with a typographic minus, as the README writes them; two decimals when
    `scale` (default |x|) is below 1 (the simulator's y* moves by tenths of a nat)."""
    size = abs(x) if scale is None else scale
    return (f"{x:+.2f}" if size < 1 else f"{x:+.1f}").replace("-", "−")


def _path(t: dict) -> str:
    return " → ".join(f"{t[k]:.1f}".replace("-", "−") for k in ("start", "max", "end"))


def _change(experiment: str, kind: str, sign: int) -> SimCheck:
    """kind ends above (sign +1) or below (−1) its start."""

    def check(o: Outcomes) -> tuple[bool, str]:
        t = o[experiment][kind]
        change = t["end"] - t["start"]
        return sign * change > 0, _num(change)

    return check


def _peaks(experiment: str, kind: str) -> SimCheck:
    """kind rises above its start at some evaluation (whatever its end)."""

    def check(o: Outcomes) -> tuple[bool, str]:
        t = o[experiment][kind]
        return t["max"] > t["start"], f"peak {_num(t['max'] - t['start'])}"

    return check


def _picture(part: str, numbers: Callable[[dict], str]) -> SimCheck:
    """One part of `simulator.metrics.dpo_picture` on the `dpo` run."""

    def check(o: Outcomes) -> tuple[bool, str]:
        return dpo_picture(o["dpo"])[part], numbers(o["dpo"])

    return check


def _changes(t: dict) -> dict[str, float]:
    return {k: v["end"] - v["start"] for k, v in t.items() if k != "squeeze"}


def _least_fall(t: dict) -> str:
    c = _changes(t)
    return f"least fall {_num(max(c[k] for k in BYSTANDERS))}"


def _irr_train(t: dict) -> str:
    irr = t["irr_train"]
    return f"{_num(irr['max'] - irr['start'])} / {_num(irr['end'] - irr['start'])}"


def _rejected(t: dict) -> str:
    return f"{_num(_changes(t)['rejected'])}"


def _squeeze(o: Outcomes) -> tuple[bool, str]:
    s = o["dpo"]["squeeze"]
    gain, mass = s["y_star_gain_off_argmax"], s["mass_outside_argmax_change"]
    return (
        gain > 0 and mass < 0,
        f"y* off the argmax {_num(gain)}, mass outside {mass:+.3f}".replace("-", "−"),
    )


def _compare(
    a: str, b: str, value: Callable[[dict], float], holds: Callable[[float, float], bool]
) -> SimCheck:
    """value(outcome of a) against value(outcome of b)."""

    def check(o: Outcomes) -> tuple[bool, str]:
        x, y = value(o[a]), value(o[b])
        return holds(x, y), f"{x:.1f} vs {y:.1f}".replace("-", "−")

    return check


_bystanders = lambda t: t["squeeze"]["bystander_change"]

CLAIMS: tuple[Claim, ...] = (
    Claim(
        "SFT: y⁺ rises",
        ("sft",),
        _change("sft", "chosen", +1),
        "sft_chosen_rises",
        PAPER_TRENDS + "test_sft_raises_chosen_its_rephrase_and_other_prompts_answers",
    ),
    Claim(
        "SFT: y* rises",
        ("sft",),
        _change("sft", "y_star", +1),
        "sft_y_star_rises",
        PAPER_TRENDS + "test_sft_raises_y_star",
    ),
    Claim(
        "SFT: irr_train rises (hallucination)",
        ("sft",),
        _peaks("sft", "irr_train"),
        "sft_irr_train_rises",
        PAPER_TRENDS + "test_sft_raises_chosen_its_rephrase_and_other_prompts_answers",
    ),
    Claim(
        "SFT: random_nonhum falls",
        ("sft",),
        _change("sft", "random_nonhum", -1),
        "sft_random_nonhum_falls",
        PAPER_TRENDS + "test_sft_raises_chosen_its_rephrase_and_other_prompts_answers",
    ),
    Claim(
        "SFT: random_permute falls",
        ("sft",),
        _change("sft", "random_permute", -1),
        "sft_random_permute_falls",
        PAPER_TRENDS + "test_sft_lowers_the_shuffled_chosen",
    ),
    Claim(
        "DPO: y⁺ rises to a peak, then ends below its start",
        ("dpo",),
        _picture("chosen rises, then ends below its start", lambda t: _path(t["chosen"])),
        "dpo_chosen_peak_then_below",
        PAPER_TRENDS + "test_long_off_policy_dpo_lowers_chosen",
    ),
    Claim(
        "DPO: y⁻ falls most",
        ("dpo",),
        _picture("rejected falls most", _rejected),
        "dpo_rejected_falls_most",
        PAPER_TRENDS + "test_long_off_policy_dpo_shows_the_papers_picture_at_every_seed",
    ),
    Claim(
        "DPO: every other type ends below its start",
        ("dpo",),
        _picture("every untrained type ends below its start", _least_fall),
        "dpo_others_end_below",
        PAPER_TRENDS + "test_long_off_policy_dpo_shows_the_papers_picture_at_every_seed",
    ),
    Claim(
        "DPO: irr_train rises first, then falls",
        ("dpo",),
        _picture("irr_train rises, then ends below its start", _irr_train),
        "dpo_irr_train_rises_first",
        PAPER_TRENDS + "test_long_off_policy_dpo_shows_the_papers_picture_at_every_seed",
    ),
    Claim(
        "DPO: y* rises",
        ("dpo",),
        _picture("y_star ends above its start", lambda t: _num(_changes(t)["y_star"])),
        "dpo_y_star_rises",
        PAPER_TRENDS + "test_long_off_policy_dpo_shows_the_papers_picture_at_every_seed",
    ),
    Claim(
        "Squeezing: DPO moves mass along y⁺ onto the argmax",
        ("dpo",),
        _squeeze,
        None,
        PAPER_TRENDS + "test_off_policy_dpo_raises_y_star_where_chosen_is_not_the_argmax",
    ),
    Claim(
        "Extension: y⁻ starts DPO higher than after SFT on y⁺ alone",
        ("extend-dpo", "sft-dpo"),
        _compare("extend-dpo", "sft-dpo", lambda t: t["rejected"]["start"], lambda e, b: e > b),
        "extension_lifts_rejected",
        PAPER_TRENDS + "test_extension_lifts_rejected_before_dpo",
    ),
    Claim(
        "Extension: y⁺ ends DPO higher than the baseline's",
        ("extend-dpo", "sft-dpo"),
        _compare("extend-dpo", "sft-dpo", lambda t: t["chosen"]["end"], lambda e, b: e > b),
        "extension_chosen_ends_higher",
        PAPER_TRENDS + "test_extension_keeps_chosen_higher_than_sft_then_dpo",
    ),
    Claim(
        "Extension: DPO squeezes the untrained types less",
        ("extend-dpo", "sft-dpo"),
        _compare("extend-dpo", "sft-dpo", _bystanders, lambda e, b: b < e < 0),
        None,
        PAPER_TRENDS + "test_extension_weakens_the_squeeze_on_the_bystanders",
    ),
    Claim(
        "On-policy DPO: the untrained types fall less than under off-policy DPO",
        ("onpolicy-dpo", "dpo-sgd"),
        _compare("onpolicy-dpo", "dpo-sgd", _bystanders, lambda on, off: abs(on) < abs(off)),
        "onpolicy_spares_untrained",
        PAPER_TRENDS + "test_on_policy_dpo_squeezes_the_bystanders_less",
    ),
)


def simulate(seeds: Sequence[int], names: Sequence[str]) -> list[Outcomes]:
    """{experiment: outcome} at each seed, each run as `python -m simulator run NAME --seed S`."""
    out = []
    for seed in seeds:
        outcomes = {}
        for name in names:
            say(f"results: simulator {name}, seed {seed}")
            trace = run_experiment(EXPERIMENTS[name], np.random.default_rng(seed))
            outcomes[name] = {**trends(trace), "squeeze": final_values(trace, "squeeze")}
        out.append(outcomes)
    return out


def simulator_cell(claim: Claim, per_seed: Sequence[Outcomes]) -> str:
    """'holds (n/n seeds): numbers' — at how many seeds the check holds, and the first seed's
    numbers; a claim that holds at no seed is contradicted, one that holds at some is mixed."""
    results = [claim.simulator(o) for o in per_seed]
    k, n = sum(ok for ok, _ in results), len(results)
    verdict = "holds" if k == n else "**contradicted**" if k == 0 else "**mixed**"
    return f"{verdict} ({k}/{n} seeds): {results[0][1]}"


def lm_cell(row: dict | None) -> str:
    """A `trends` row as 'effect [low, high] verdict' (or '(no interval)'); a claim of two effects
    (a rise, then a fall) names both; 'no check' when no signature decides the claim, the
    verdict alone when there is no effect (`not run`, too few evaluations)."""
    if row is None:
        return "no check"
    verdict = row["verdict"] if row["verdict"] in ("holds", "not run") else f"**{row['verdict']}**"
    if row["effect"] is None:
        return verdict
    parts = row.get("parts") or []
    if len(parts) == 2:
        effects = "; ".join(f"{p['name']} {_effect(p['effect'], p['interval'])}" for p in parts)
    else:
        effects = _effect(row["effect"], row["interval"])
    return f"{effects}{' (no interval)' if row['interval'] is None else ''} {verdict}"


def _effect(value: float, interval: list | None) -> str:
    """'+v [low, high]' at one precision for the three, or '+v' without an interval."""
    if interval is None:
        return _num(value)
    low, high = interval
    scale = max(abs(value), abs(low), abs(high))
    return f"{_num(value, scale)} [{_num(low, scale)}, {_num(high, scale)}]"


def gather_runs(folders: Sequence[str]) -> dict[str, list[Run]]:
    """{method: runs} over several folders (each a run or a folder of runs); a method found in
    more than one folder is read from the first (a note on stderr says which)."""
    runs: dict[str, list[Run]] = {}
    for folder in folders:
        found, notes = find_runs(Path(folder))
        for note in notes:
            say(f"results: {note}")
        for method, group in found.items():
            if method in runs:
                say(f"results: {folder}: a second {method} run; using {runs[method][0].name}")
                continue
            runs[method] = group
    return runs


def table(
    per_seed: Sequence[Outcomes], cpu: dict[str, list[Run]], reference: dict[str, list[Run]]
) -> str:
    """The Markdown table (and a line naming the runs read) of every claim in `CLAIMS`."""
    cpu_rows = {r["key"]: r for r in evaluate(cpu)}
    ref_rows = {r["key"]: r for r in evaluate(reference)}
    lines = [
        "| claim | simulator | SmolLM2 CPU | GPU reference | test |",
        "|---|---|---|---|---|",
    ]
    for c in CLAIMS:
        cpu_row = cpu_rows[c.signature] if c.signature else None
        ref_row = ref_rows[c.signature] if c.signature else None
        lines.append(
            f"| {c.text} | {simulator_cell(c, per_seed)} | {lm_cell(cpu_row)} | "
            f"{lm_cell(ref_row)} | `{c.test}` |"
        )
    seeds = len(per_seed)
    read = lambda runs: ", ".join(sorted(r.name for g in runs.values() for r in g)) or "none"
    lines += [
        "",
        f"Simulator: seeds 0–{seeds - 1}, numbers at seed 0. SmolLM2 CPU runs read: {read(cpu)}. "
        f"GPU reference runs read: {read(reference)}.",
    ]
    return "\n".join(lines) + "\n"


def main(cfg) -> str:
    """The table for `cfg` (a `ResultsConfig`), written between the markers of `cfg.write` when
    given. Every input (the file and its markers, the run folders) is checked before the
    simulator runs."""
    if cfg.write is not None:
        check_block(Path(cfg.write), BLOCK)
    cpu = gather_runs(cfg.cpu_runs or ())
    reference = gather_runs([cfg.reference_runs] if cfg.reference_runs else ())
    names = tuple(dict.fromkeys(name for c in CLAIMS for name in c.experiments))
    md = table(simulate(range(cfg.simulator_seeds), names), cpu, reference)
    if cfg.write is not None:
        write_block(Path(cfg.write), BLOCK, md)
    return md
