"""Figure 5 — SFT probe curves by type (the paper's Sec. 4.1 on the synthetic probe world).

SFT on y⁺_u pulls up y⁺_u and, through the shared kernel, responses that share its format or
content; one panel per probe family.
"""

from __future__ import annotations

from matplotlib.figure import Figure

from simulator.metrics import Trace

from . import sim_runs, style
from .sim_runs import CurveConfig as Config

TINY = sim_runs.TINY


def compute(cfg: Config) -> Trace:
    return sim_runs.run("sft", cfg)


def plot(trace: Trace, cfg: Config) -> Figure:
    fig = style.new_figure(18, 4.4)
    sim_runs.family_panels(fig.subplots(1, len(sim_runs.FAMILY_PANELS)), trace, cfg.ema)
    fig.suptitle(
        r"SFT on $y^+_u$ from $\pi_0$: log-probability of each probe type under $x_u$"
        + sim_runs.ema_note(cfg.ema)
    )
    return fig
