"""Figure 7 — baseline vs extension (the paper's Sec. 4.3): chosen and y*.

Baseline: SFT on y⁺_u, then DPO. Extension: SFT on y⁺_u and y⁻_u, then DPO. The paper's idea:
training on y⁻_u first lifts it out of the valley, so DPO's negative gradient later acts on a
likelier response and squeezes less. The panels show y⁺_u, y⁻_u and y* for both, and how
concentrated π is along y⁺ (the mass outside the argmax).
"""

from __future__ import annotations

from dataclasses import dataclass

from matplotlib.figure import Figure

from simulator.metrics import Trace

from .. import style
from . import probe_world
from .probe_world import CurveConfig as Config
from .probe_world import Method

TINY = probe_world.TINY

METHODS = (
    Method("sft-dpo", r"baseline: SFT on $y^+_u$ → DPO", probe_world.BASELINE_KW),
    Method("extend-dpo", r"extension: SFT on $y^+_u, y^-_u$ → DPO", probe_world.VARIANT_KW),
)
PROBES = ("chosen", "rejected", "y_star")


@dataclass(frozen=True)
class Runs:
    traces: dict[str, Trace]


def compute(cfg: Config) -> Runs:
    return Runs({m.name: probe_world.run(m.name, cfg) for m in METHODS})


def plot(d: Runs, cfg: Config) -> Figure:
    fig = style.new_figure(19, 4.6)
    probe_world.compare(fig.subplots(1, len(PROBES) + 1), d.traces, METHODS, PROBES, cfg.ema)
    fig.suptitle(
        r"Baseline vs extension: DPO after SFT on $y^+_u$ only, or on $y^+_u$ and $y^-_u$"
        + probe_world.ema_note(cfg.ema)
    )
    return fig
