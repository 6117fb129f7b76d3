"""Figure 13 — baseline vs extension on a real LM (runs of `sft-dpo` and `extend-dpo`).

The real-run twin of figure 7: SFT on y⁺_u only, or on y⁺_u and y⁻_u, then the same DPO (the
paper's Sec. 4.3). The dotted line is where DPO begins; the paper's claim is that y⁻_u enters DPO
higher after the extension, so DPO squeezes less and y⁺_u ends higher. The last panel is the
squeeze's footprint: the mean change of the untrained probe types.
"""

from __future__ import annotations

from matplotlib.figure import Figure

from ..paper import probe_world as sim_runs
from ..paper.probe_world import Method
from . import compare as run_compare
from . import curves as run_curves
from .compare import Compared, Config

TINY = run_compare.TINY

METHODS = (
    Method("sft-dpo", r"baseline: SFT on $y^+_u$ → DPO", sim_runs.BASELINE_KW),
    Method("extend-dpo", r"extension: SFT on $y^+_u, y^-_u$ → DPO", sim_runs.VARIANT_KW),
)
PROBES = ("chosen", "rejected", "y_star")


def compute(cfg: Config) -> Compared:
    return run_compare.compute(cfg, METHODS)


def plot(d: Compared, cfg: Config) -> Figure:
    title = (
        r"Real LM, baseline vs extension: DPO after SFT on $y^+_u$ only, or on $y^+_u$ and $y^-_u$"
    )
    fig, axes = run_compare.comparison_figure(d, METHODS, PROBES, cfg.ema, title)
    run_curves.mark_phase(axes, d.runs["extend-dpo"].last_phase_start)
    return fig
