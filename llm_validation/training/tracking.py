"""Probe tracking: score every probe type (and y*) as rows of the run format (`common.runs`).

Metrics per probe type:

- `logp`: mean over probe examples of the summed log π(y|x) (the paper's curves);
- `logp_token`: mean over examples of the token mean (1/L) log π(y|x);
- the per-token statistics of `logprobs.TOKEN_METRICS`, averaged over tokens then examples.

`y_star` (the per-position argmax along y⁺) gets `logp` and `logp_token`. The trainer also logs
`probe_type=train, metric=loss` (the mean loss since the previous evaluation). Every evaluation
is appended and flushed at once, so an interrupted run keeps all it wrote.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.errors import UserError
from common.probes import PROBE_TYPES, Y_STAR
from common.runs import PromptRow, prompt_id
from llm_validation.core.logprobs import (
    PAPER_TRUNCATION,
    TOKEN_METRICS,
    CutReport,
    Tokenized,
    Truncation,
    score,
    tokenize_example,
)
from llm_validation.sources.data import LoadReport
from llm_validation.sources.examples import Example


def scheduled_evaluation(step: int, every: int, at: Sequence[int] = ()) -> bool:
    """Whether probes are scored after optimiser step `step`: every `every` steps and at the
    steps `at` (trainer and callback also score step 0 and the last)."""
    return step % every == 0 or step in at


def unreached_evaluations(at: Sequence[int], total: int) -> str | None:
    """The line that says which requested evaluation steps lie beyond a run of `total` steps."""
    beyond = sorted(s for s in at if s > total)
    if not beyond:
        return None
    steps = ", ".join(map(str, beyond))
    return f"evaluation step(s) {steps} lie beyond the run's {total} steps: not evaluated"


@dataclass(frozen=True)
class ProbeSet:
    """Tokenised probes, flat over (example, probe type).

    items: the sequences; kind[i] / example[i]: the probe type and example index of items[i];
    prompts[u]: example u's prompt id (`common.runs.prompt_id`; a repeated prompt gets `#2`, …).
    """

    items: tuple[Tokenized, ...]
    kind: tuple[str, ...]
    example: np.ndarray
    prompts: tuple[str, ...] = ()


def truncation_of(cfg) -> Truncation:
    """The `Truncation` a command's config (a `config.Tokenization`) asks for."""
    return Truncation(
        cfg.max_length, cfg.max_prompt_length, cfg.truncation_mode, cfg.boundary, cfg.share_budget
    )


def report_load(label: str, load: LoadReport) -> dict:
    """Say on stderr what a load kept and skipped, each skipped line as `file:line: reason` (the
    first few, then a count); return the same as a JSON-able dict for summary.json."""
    for line in (load.summary(), *load.notes()):
        print(f"{label}: {line}", file=sys.stderr)
    return load.to_json()


def report_cuts(label: str, cut: CutReport) -> dict:
    """Say on stderr what truncation cut, per probe type; return it as a JSON-able dict."""
    for line in cut.lines():
        print(f"{label}: {line}", file=sys.stderr)
    return cut.to_json()


@dataclass(frozen=True)
class HeldOut:
    """`--hold-out N`: the training examples, the held-out probes, and how many of the N were
    dropped because their prompt is also a training prompt (HH repeats some prompts)."""

    training: list[Example]
    probes: list[Example]
    dropped: int

    def line(self) -> str:
        n, kept = len(self.training), len(self.probes)
        dropped = (
            f"; {self.dropped} dropped, as their prompt is also a training prompt"
            if self.dropped
            else ""
        )
        return (
            f"held out: {kept} probe prompts never trained on; training on the other {n}{dropped}"
        )

    def to_json(self) -> dict:
        return {"training": len(self.training), "probes": len(self.probes), "dropped": self.dropped}


def hold_out(examples: Sequence[Example], n: int) -> HeldOut:
    """The last `n` examples leave the training data and become the probes, minus any whose prompt
    the training data still holds: probes whose own pair the run never steps on. `n` must leave
    at least one example on each side (a UserError otherwise, before the model loads)."""
    if n >= len(examples):
        raise UserError(
            f"--hold-out {n} leaves nothing to train on: the data has {len(examples)} valid "
            "examples (after --limit)"
        )
    training, tail = list(examples[: len(examples) - n]), examples[len(examples) - n :]
    seen = {ex.prompt for ex in training}
    probes = [ex for ex in tail if ex.prompt not in seen]
    if not probes:
        raise UserError(f"--hold-out {n}: every held-out prompt is also a training prompt")
    return HeldOut(training, probes, len(tail) - len(probes))


def select_probes(
    examples: Sequence[Example], offset: int = 0, limit: int | None = None
) -> list[Example]:
    """examples[offset : offset + limit]: the probe prompts a run tracks (`--probe-offset`,
    `--probe-limit`); an offset that leaves no probe is a UserError, never an empty run."""
    if offset >= len(examples):
        raise UserError(
            f"--probe-offset {offset} leaves no probe: the probe source has {len(examples)} "
            "valid examples"
        )
    return list(examples[offset : None if limit is None else offset + limit])


def build_probes(
    tokenizer,
    examples: Sequence[Example],
    truncation: Truncation = PAPER_TRUNCATION,
    types: Sequence[str] | None = None,
    report: CutReport | None = None,
) -> ProbeSet:
    """Tokenise every requested probe type present in each example (all of `PROBE_TYPES` by
    default); one prompt truncation per example, shared by all its responses; cuts go to
    `report`."""
    wanted = [t for t in PROBE_TYPES if types is None or t in types]
    items, kind, example = [], [], []
    for u, ex in enumerate(examples):
        responses = {t: ex.responses[t] for t in wanted if t in ex.responses}
        tokens_by_type = tokenize_example(tokenizer, ex.prompt, responses, truncation, report)
        for name, tokens in tokens_by_type.items():
            items.append(tokens)
            kind.append(name)
            example.append(u)
    return ProbeSet(tuple(items), tuple(kind), np.array(example, dtype=int), prompt_ids(examples))


def prompt_ids(examples: Sequence[Example]) -> tuple[str, ...]:
    """One id per example: `prompt_id` of its prompt, `#k` appended to the k-th repeat."""
    seen: dict[str, int] = {}
    ids = []
    for ex in examples:
        base = prompt_id(ex.prompt)
        seen[base] = seen.get(base, 0) + 1
        ids.append(base if seen[base] == 1 else f"{base}#{seen[base]}")
    return tuple(ids)


def per_example(
    probes: ProbeSet, scores: dict[str, np.ndarray]
) -> dict[str, dict[str, np.ndarray]]:
    """{probe type: {statistic: Shape (n,)}} from `logprobs.score` output; adds y_star from the
    chosen sequences' Σ_l max_v log π (one array per type: the paper's code once overwrote its
    argmax metric with the last probe type's, which this keyed layout rules out)."""
    kinds = np.array(probes.kind)
    out = {}
    for name in dict.fromkeys(probes.kind):
        rows = kinds == name
        stats = {k: scores[k][rows] for k in ("logp", *TOKEN_METRICS)}
        stats["logp_token"] = scores["logp"][rows] / scores["n_tokens"][rows]
        stats["example"] = probes.example[rows]
        out[name] = stats
        if name == "chosen":
            out[Y_STAR] = {
                "logp": scores["logp_max"][rows],
                "logp_token": scores["logp_max"][rows] / scores["n_tokens"][rows],
                "example": probes.example[rows],
            }
    return out


def evaluate(
    model, probes: ProbeSet, pad_id: int, batch_tokens: int = 4096, progress: bool = False
) -> dict[str, dict[str, np.ndarray]]:
    """Score the probe set once → per-example statistics per probe type (see `per_example`)."""
    return per_example(probes, score(model, probes.items, pad_id, batch_tokens, progress))


def summarize(arrays: dict[str, dict[str, np.ndarray]]) -> list[tuple[str, str, float]]:
    """(probe type, metric, mean over examples) for every statistic except the example index."""
    return [
        (kind, metric, float(np.mean(values)))
        for kind, stats in arrays.items()
        for metric, values in stats.items()
        if metric != "example"
    ]


def prompt_rows(
    probes: ProbeSet, arrays: dict[str, dict[str, np.ndarray]], types: Sequence[str] | None = None
) -> list[PromptRow]:
    """(probe type, prompt id, summed log π(y|x)) for every probe example of every type (of
    `types`, when given): the rows of `prompts.csv`, whose mean over prompts is `logp`."""
    return [
        (kind, probes.prompts[u], float(v))
        for kind, stats in arrays.items()
        if types is None or kind in types
        for u, v in zip(stats["example"], stats["logp"])
    ]


def save_arrays(path: Path, arrays: dict[str, dict[str, np.ndarray]]) -> None:
    """Per-example statistics of one evaluation as `.npz`, keys `<probe type>/<statistic>`."""
    np.savez_compressed(
        path, **{f"{k}/{m}": v for k, stats in arrays.items() for m, v in stats.items()}
    )
