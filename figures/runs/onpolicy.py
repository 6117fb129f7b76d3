"""Figure 14 — on-policy vs off-policy DPO on a real LM (runs of `onpolicy-dpo` and `dpo`).

The real-run twin of figure 8 (the paper's Sec. 4.4): off-policy pairs are the dataset's fixed
responses, whose y⁻_u soon sits in a valley where the negative gradient squeezes; on-policy pairs
are sampled from the current policy and ranked. The probes are the fixed ones in both runs; the
last panel is the claim's measure, the mean change of the untrained probe types.
"""

from __future__ import annotations

from matplotlib.figure import Figure

from ..paper import probe_world
from ..paper.probe_world import Method
from . import compare
from .compare import Compared, Config

TINY = compare.TINY

METHODS = (
    Method("dpo", "off-policy DPO", probe_world.BASELINE_KW),
    Method("onpolicy-dpo", "on-policy DPO", probe_world.VARIANT_KW),
)
PROBES = ("chosen", "rejected", "irr_train", "y_star")


def compute(cfg: Config) -> Compared:
    return compare.compute(cfg, METHODS)


def plot(d: Compared, cfg: Config) -> Figure:
    title = "Real LM, on-policy vs off-policy DPO"
    return compare.comparison_figure(d, METHODS, PROBES, cfg.ema, title)[0]
