"""The paper's teaching figures, drawn from the numpy simulator alone (figures 1–9).

Each module is one figure (`curves` is two: 5 and 6) with `Config`, `TINY`, `compute(cfg)` and
`plot(data, cfg)`; `probe_world` is their shared plumbing: one seeded probe world and π₀, runs
seeded as `python -m simulator run`, and the probe-curve panels. Nothing here reads a file: every
figure is recomputed from its config, and `figures.runs` may borrow these panels, never the reverse.
"""

from . import (
    curves,
    digits_influence,
    extension,
    one_step,
    onpolicy,
    phase,
    squeezing,
    type_influence,
)

__all__ = [
    "curves",
    "digits_influence",
    "extension",
    "one_step",
    "onpolicy",
    "phase",
    "squeezing",
    "type_influence",
]
