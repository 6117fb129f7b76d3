"""The probe vocabulary of the whole project: every response type of the paper's probing files,
its symbol, its family and its place in the order tables and legends use.

Field names are those of the authors' probing files (../shared/README.md). The greedy response
y* (`Y_STAR`) is not a field: it is Σ_l max_v log π(v | x_u, y⁺_<l), the per-position argmax along
y⁺ under teacher forcing, recomputed from the current model at every evaluation.

Families follow the paper's figures: the chosen family (y⁺ and what shares its content or format),
the rejected family, irrelevant responses (other prompts' answers, fluent text) and random token
strings; y* stands alone. `MODEL_DEPENDENT` types are drawn from a model, not written by rule.
"""

from __future__ import annotations

from dataclasses import dataclass

Y_STAR = "y_star"


@dataclass(frozen=True)
class ProbeType:
    """One response type: field name, the paper's symbol (LaTeX), family and what it is."""

    name: str
    symbol: str
    family: str
    what: str


VOCABULARY: tuple[ProbeType, ...] = (
    ProbeType("chosen", r"y^+_u", "chosen", "the preferred response"),
    ProbeType("rejected", r"y^-_u", "rejected", "the dispreferred response"),
    ProbeType("chosen_gptsemantic", r"y^+_{\rm gpts}", "chosen", "y⁺ rephrased: same meaning"),
    ProbeType("reject_gptsemantic", r"y^-_{\rm gpts}", "rejected", "y⁻ rephrased: same meaning"),
    ProbeType("chosen_gptformat", r"y^+_{\rm gptf}", "chosen", "y⁺'s format, other meaning"),
    ProbeType("reject_gptformat", r"y^-_{\rm gptf}", "rejected", "y⁻'s format, other meaning"),
    ProbeType("irr_train", r"y^+_{j\neq u}", "irrelevant", "another training prompt's y⁺"),
    ProbeType("irr_test", r"y_{\rm test}", "irrelevant", "a held-out prompt's y⁺"),
    ProbeType("irr_hum", r"y_{\rm hum}", "irrelevant", "a fluent sentence of similar length"),
    ProbeType("random_permute", r"y^+_{\rm urnd}", "random", "y⁺'s words shuffled"),
    ProbeType("random_nonhum", r"y'_{\rm rnd}", "random", "y_test's words shuffled"),
    ProbeType("chosen_initial", r"y^+_{u,0}", "chosen", "a sample of the initial model"),
    ProbeType("chosen_selfr", r"y_{\rm selfr}", "chosen", "a self-rephrase by the model"),
    ProbeType(Y_STAR, r"y^*", "y*", "the per-position argmax along y⁺ (computed)"),
)
BY_NAME = {p.name: p for p in VOCABULARY}

PROBE_TYPES = tuple(p.name for p in VOCABULARY if p.name != Y_STAR)  # the fields of a probe file
MODEL_DEPENDENT = ("chosen_initial", "chosen_selfr")
FIXED_TYPES = tuple(t for t in PROBE_TYPES if t not in MODEL_DEPENDENT)  # written by rule
PAIR_TYPES = ("chosen", "rejected")  # what preference training reads
BYSTANDERS = tuple(t for t in PROBE_TYPES if t not in PAIR_TYPES)  # the responses never trained on
FAMILIES = ("chosen", "rejected", "irrelevant", "random", "y*")


def family(name: str) -> str:
    """The family of a probe type; KeyError for a name outside the vocabulary."""
    return BY_NAME[name].family


def members(family_name: str) -> tuple[str, ...]:
    """The probe types of one family, in vocabulary order."""
    return tuple(p.name for p in VOCABULARY if p.family == family_name)
