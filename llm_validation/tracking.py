"""Probe tracking: score every probe type (and y*) and append tidy rows to `metrics.csv`.

`metrics.csv` has one row per (step, probe type, metric): columns `step`, `examples_seen`,
`probe_type`, `metric`, `value`. Metrics per probe type:

- `logp`: mean over probe examples of the summed log π(y|x) (the paper's curves);
- `logp_token`: mean over examples of the token mean (1/L) log π(y|x);
- the per-token statistics of `logprobs.TOKEN_STATS`, averaged over tokens then examples.

`y_star` (the per-position argmax along y⁺) gets `logp` and `logp_token`. The trainer also logs
`probe_type=train, metric=loss` (the mean loss since the previous evaluation). Every evaluation
is appended and flushed at once, so an interrupted run keeps all it wrote.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from llm_validation.data import PROBE_TYPES, Y_STAR, Example
from llm_validation.logprobs import (
    PAPER_TRUNCATION,
    TOKEN_STATS,
    Tokenized,
    Truncation,
    score,
    tokenize_example,
)

COLUMNS = ("step", "examples_seen", "probe_type", "metric", "value")


@dataclass(frozen=True)
class ProbeSet:
    """Tokenised probes, flat over (example, probe type).

    items: the sequences; kind[i] / example[i]: the probe type and example index of items[i].
    """

    items: tuple[Tokenized, ...]
    kind: tuple[str, ...]
    example: np.ndarray


def build_probes(tokenizer, examples: Sequence[Example], truncation: Truncation = PAPER_TRUNCATION,
                 types: Sequence[str] | None = None) -> ProbeSet:
    """Tokenise every requested probe type present in each example (all of `PROBE_TYPES` by
    default); one prompt truncation per example, shared by all its responses."""
    wanted = [t for t in PROBE_TYPES if types is None or t in types]
    items, kind, example = [], [], []
    for u, ex in enumerate(examples):
        responses = {t: ex.responses[t] for t in wanted if t in ex.responses}
        for name, tokens in tokenize_example(tokenizer, ex.prompt, responses, truncation).items():
            items.append(tokens)
            kind.append(name)
            example.append(u)
    return ProbeSet(tuple(items), tuple(kind), np.array(example, dtype=int))


def per_example(probes: ProbeSet, scores: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """{probe type: {statistic: Shape (n,)}} from `logprobs.score` output; adds y_star from the
    chosen sequences' Σ_l max_v log π (one array per type: the paper's code once overwrote its
    argmax metric with the last probe type's, which this keyed layout rules out)."""
    kinds = np.array(probes.kind)
    out = {}
    for name in dict.fromkeys(probes.kind):
        rows = kinds == name
        stats = {k: scores[k][rows] for k in ("logp", *TOKEN_STATS)}
        stats["logp_token"] = scores["logp"][rows] / scores["n_tokens"][rows]
        stats["example"] = probes.example[rows]
        out[name] = stats
        if name == "chosen":
            out[Y_STAR] = {"logp": scores["logp_max"][rows],
                           "logp_token": scores["logp_max"][rows] / scores["n_tokens"][rows],
                           "example": probes.example[rows]}
    return out


def evaluate(model, probes: ProbeSet, pad_id: int, batch_tokens: int = 4096,
             progress: bool = False) -> dict[str, dict[str, np.ndarray]]:
    """Score the probe set once → per-example statistics per probe type (see `per_example`)."""
    return per_example(probes, score(model, probes.items, pad_id, batch_tokens, progress))


def summarize(arrays: dict[str, dict[str, np.ndarray]]) -> list[tuple[str, str, float]]:
    """(probe type, metric, mean over examples) for every statistic except the example index."""
    return [(kind, metric, float(np.mean(values)))
            for kind, stats in arrays.items() for metric, values in stats.items()
            if metric != "example"]


class MetricsLog:
    """Append-only writer of `metrics.csv`; each `append` is flushed to disk before returning.

    `keep_through=s` (resume) keeps the rows with step ≤ s and drops the rest; None starts anew.
    """

    def __init__(self, path: Path, keep_through: int | None = None):
        kept = [r for r in read_metrics(path) if int(r["step"]) <= keep_through] \
            if keep_through is not None and path.is_file() else []
        self.path = path
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(COLUMNS)
            writer.writerows([r[c] for c in COLUMNS] for r in kept)

    def append(self, step: int, examples_seen: int, rows: Sequence[tuple[str, str, float]]):
        with self.path.open("a", newline="") as handle:
            csv.writer(handle).writerows(
                (step, examples_seen, kind, metric, repr(value)) for kind, metric, value in rows)
            handle.flush()


def read_metrics(path: Path) -> list[dict[str, str]]:
    """The rows of a `metrics.csv` as dicts of strings."""
    with Path(path).open(newline="") as handle:
        return list(csv.DictReader(handle))


def save_arrays(path: Path, arrays: dict[str, dict[str, np.ndarray]]) -> None:
    """Per-example statistics of one evaluation as `.npz`, keys `<probe type>/<statistic>`."""
    np.savez_compressed(path, **{f"{k}/{m}": v for k, stats in arrays.items() for m, v in stats.items()})


def plot_metrics(csv_path: Path, png_path: Path, metric: str = "logp") -> Path:
    """Curves of `metric` against step, one line per probe type (matplotlib, imported here)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves: dict[str, list[tuple[int, float]]] = {}
    for row in read_metrics(csv_path):
        if row["metric"] == metric and row["probe_type"] != "train":
            curves.setdefault(row["probe_type"], []).append((int(row["step"]), float(row["value"])))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for kind, points in curves.items():
        steps, values = zip(*sorted(points), strict=True)
        ax.plot(steps, values, marker="o", ms=3, label=kind, lw=2.5 if kind == Y_STAR else 1.2)
    ax.set_xlabel("optimiser step")
    ax.set_ylabel(f"mean {metric}  (log π(y|x), summed over tokens)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(png_path, dpi=120)
    plt.close(fig)
    return png_path
