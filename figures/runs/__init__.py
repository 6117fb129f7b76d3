"""Plots of finished run folders: what `python -m llm_validation` (or a trainer with the callback)
wrote to `runs/<name>/` (figures 10–16, and the plots a run draws of itself).

`io` is the only file reading of the figures, through the run format of `common.runs`; each other
module is one figure (`Config` with `runs`, `TINY`, `compute`, `plot`) or, for `plots`, a run
folder's own curves, scatter, heat map and drift. Real runs are drawn in the simulator figures'
panels (`figures.paper.probe_world`); figure 15 puts the simulator's DPO beside a reference run.
"""

from . import (
    compare,
    curves,
    dpo_reference,
    extension,
    io,
    kernel_drift,
    onpolicy,
    plots,
    predict,
    real_squeeze,
)

__all__ = [
    "compare",
    "curves",
    "dpo_reference",
    "extension",
    "io",
    "kernel_drift",
    "onpolicy",
    "plots",
    "predict",
    "real_squeeze",
]
