"""Figure 8 — on-policy vs off-policy DPO (the paper's Sec. 4.2 discussion), with the ablation.

Off-policy pairs are fixed responses, and y⁻_u soon sits in a valley of π, where the negative
gradient squeezes. On-policy pairs are sampled from the current policy (best vs worst of a few
samples by the world's reward, which is blind to the probes), so y⁻ is never very unlikely. The
ablation (`simulator.experiments.ONPOLICY_ABLATION`) draws one side only: an on-policy y⁺ against
the fixed (valley) y⁻, and the fixed y⁺ against an on-policy y⁻. The probes are the fixed ones in
every run; the last panel shows how concentrated π is along y⁺ (the mass outside the argmax).
"""

from __future__ import annotations

from matplotlib.figure import Figure

from .. import style
from . import probe_world
from .extension import Runs
from .probe_world import CurveConfig as Config
from .probe_world import Method

TINY = probe_world.TINY

METHODS = (
    Method("dpo-sgd", "off-policy DPO (SGD, as the on-policy runs)", probe_world.BASELINE_KW),
    Method("onpolicy-dpo", "on-policy DPO", probe_world.VARIANT_KW),
    Method("onpolicy-chosen-dpo", r"on-policy $y^+$, fixed $y^-$", {"lw": 1.6, "marker": "^"}),
    Method("onpolicy-rejected-dpo", r"fixed $y^+$, on-policy $y^-$", {"lw": 1.6, "marker": "v"}),
)
PROBES = ("chosen", "rejected", "irr_test", "y_star")


def compute(cfg: Config) -> Runs:
    return Runs({m.name: probe_world.run(m.name, cfg) for m in METHODS})


def plot(d: Runs, cfg: Config) -> Figure:
    fig = style.new_figure(20, 4.6)
    probe_world.compare(fig.subplots(1, len(PROBES) + 1), d.traces, METHODS, PROBES, cfg.ema)
    fig.suptitle(
        r"On-policy vs off-policy DPO from $\pi_0$: fixed pairs, pairs sampled from the policy, "
        r"or one side sampled" + probe_world.ema_note(cfg.ema)
    )
    return fig
