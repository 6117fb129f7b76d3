"""Figure 13 — baseline vs extension on a real LM (runs of `sft-dpo` and `extend-dpo`).

The real-run twin of figure 7: SFT on y⁺_u only, or on y⁺_u and y⁻_u, then the same DPO (the
paper's Sec. 4.3). The dotted line is where DPO begins; the paper's claim is that y⁻_u enters DPO
higher after the extension, so DPO squeezes less and y⁺_u ends higher. The last panel is the
squeeze's footprint: the mean change of the untrained probe types.
"""

from __future__ import annotations

from matplotlib.figure import Figure

from . import run_compare, run_curves, sim_runs, style
from .run_compare import Compared, Config
from .sim_runs import Method

TINY = run_compare.TINY

METHODS = (
    Method("sft-dpo", r"baseline: SFT on $y^+_u$ → DPO", sim_runs.BASELINE_KW),
    Method("extend-dpo", r"extension: SFT on $y^+_u, y^-_u$ → DPO", sim_runs.VARIANT_KW),
)
PROBES = ("chosen", "rejected", "y_star")


def compute(cfg: Config) -> Compared:
    return run_compare.compute(cfg, METHODS)


def plot(d: Compared, cfg: Config) -> Figure:
    fig = style.new_figure(24, 4.6)
    axes = fig.subplots(1, len(PROBES) + 2)
    sim_runs.compare(axes[:-1], d.traces, METHODS, PROBES, cfg.ema)
    run_compare.untrained_panel(axes[-1], d, METHODS, cfg.ema)
    run_curves.mark_phase(axes, d.runs["extend-dpo"].last_phase_start)
    fig.suptitle(
        r"Real LM, baseline vs extension: DPO after SFT on $y^+_u$ only, or on $y^+_u$ and $y^-_u$"
        f" ({run_compare.legend_names(d, METHODS)})" + sim_runs.ema_note(cfg.ema)
    )
    return fig
