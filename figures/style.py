"""The one style every figure shares: the paper's colour convention, its symbols, EMA smoothing.

Colours follow Ren & Sutherland's probe figures (chosen family blue, rejected family orange,
irrelevant red, random cyan, y* black dashed), chosen so that they stay distinct under protanopia, deuteranopia and tritanopia (`cvd_simulate`, checked by a test).
Members of one family share the colour and differ by line style.

Figures are built on `matplotlib.figure.Figure` directly, never pyplot: no global figure state
and no GUI backend (Agg renders on save).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import matplotlib
import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from common import probes

# Blue and orange from Okabe & Ito (2008), cyan from Paul Tol's "bright" scheme, and a red darker
# than Okabe–Ito's vermillion, which sits too close to orange under deuteranopia (ΔE 18 against 35).
BLUE = "#0072B2"
ORANGE = "#E69F00"
RED = "#C0392B"
CYAN = "#66CCEE"
BLACK = "#000000"
GREY = "#999999"

# Up/down changes of probability: blue/red, distinct for all three CVD types.
RISE, FALL = BLUE, RED

PAPER_EMA_ALPHA = 0.9  # the paper's smoothing of probe curves


@dataclass(frozen=True)
class ProbeStyle:
    """How one probe type is drawn: colour, line style and the paper's symbol."""

    color: str
    ls: str
    label: str

    def kw(self) -> dict:
        return {"color": self.color, "ls": self.ls, "label": self.label}


FAMILY_COLORS = {
    "chosen": BLUE,
    "rejected": ORANGE,
    "irrelevant": RED,
    "random": CYAN,
    "y*": BLACK,
}
LINE_STYLES = ("-", "--", ":", "-.", (0, (3, 1, 1, 1, 1, 1)))  # by place within the family


def _style(p: probes.ProbeType) -> ProbeStyle:
    place = probes.members(p.family).index(p.name)
    ls = "--" if p.name == probes.Y_STAR else LINE_STYLES[place]
    suffix = " (initial)" if p.name == "chosen_initial" else ""
    return ProbeStyle(FAMILY_COLORS[p.family], ls, f"${p.symbol}${suffix}")


PROBES: dict[str, ProbeStyle] = {p.name: _style(p) for p in probes.VOCABULARY}

RC = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 8.5,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "figure.titlesize": 13,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.frameon": False,
    "lines.linewidth": 1.8,
    "savefig.dpi": 110,
    "image.cmap": "viridis",
    "axes.formatter.useoffset": False,  # plain tick labels: −572.6, not −5.726e2 + offset
}

DIVERGING = (
    "RdBu"  # heat maps: positive (rises) blue like RISE, negative red; readable by all CVD types
)


def legend_below(ax, **kwargs) -> None:
    """The axes' legend under its x label, outside the data (a panel of many curves has no
    empty corner that `loc="best"` could rely on)."""
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=2, **kwargs)


def probe_style(probe_type: str) -> ProbeStyle:
    """The style of a probe type; unknown types are grey, labelled by their name."""
    return PROBES.get(probe_type, ProbeStyle(GREY, "-", probe_type.replace("_", " ")))


@contextmanager
def context():
    """Apply the shared rcParams while a figure is built and saved."""
    with matplotlib.rc_context(RC):
        yield


def new_figure(width: float, height: float) -> Figure:
    """A constrained-layout figure, in inches."""
    return Figure(figsize=(width, height), layout="constrained")


def ema(values: np.ndarray, alpha: float = PAPER_EMA_ALPHA) -> np.ndarray:
    """s_0 = x_0, s_t = α s_{t−1} + (1 − α) x_t; α = 0 returns the values unchanged. Shape: (T,)."""
    values = np.asarray(values, dtype=float)
    if not 0.0 <= alpha < 1.0:
        raise ValueError(f"EMA alpha must lie in [0, 1), got {alpha}")
    out = np.empty_like(values)
    acc = values[0] if values.size else 0.0
    for t, x in enumerate(values):
        acc = alpha * acc + (1.0 - alpha) * x
        out[t] = acc
    return out


def symmetric_limit(*arrays: np.ndarray) -> float:
    """max |value| over the arrays, for a colour scale centred on zero (1 if all vanish)."""
    m = max(float(np.max(np.abs(a))) for a in arrays)
    return m if m > 0 else 1.0


# Machado, Oliveira & Fernandes (2009), severity 1.0, acting on linear RGB.
CVD_MATRICES = {
    "protanopia": np.array(
        [
            [0.152286, 1.052583, -0.204868],
            [0.114503, 0.786281, 0.099216],
            [-0.003882, -0.048116, 1.051998],
        ]
    ),
    "deuteranopia": np.array(
        [
            [0.367322, 0.860646, -0.227968],
            [0.280085, 0.672501, 0.047413],
            [-0.011820, 0.042940, 0.968881],
        ]
    ),
    "tritanopia": np.array(
        [
            [1.255528, -0.076749, -0.178779],
            [-0.078411, 0.930809, 0.147602],
            [0.004733, 0.691367, 0.303900],
        ]
    ),
}


def _to_linear(srgb: np.ndarray) -> np.ndarray:
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def _lab(linear_rgb: np.ndarray) -> np.ndarray:
    """CIE L*a*b* (D65) of linear RGB rows. Shape: (n, 3) → (n, 3)."""
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = linear_rgb @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], 1)


def cvd_min_distance(colors: list[str], kind: str | None) -> float:
    """The smallest pairwise CIE76 ΔE between colours, as seen with colour-vision deficiency `kind`

    (None: normal vision). Matplotlib colour specs in; ΔE ≳ 20 reads as clearly different.
    """
    lin = _to_linear(np.array([to_rgb(c) for c in colors]))
    if kind is not None:
        lin = np.clip(lin @ CVD_MATRICES[kind].T, 0.0, 1.0)
    lab = _lab(lin)
    d = np.linalg.norm(lab[:, None, :] - lab[None, :, :], axis=-1)
    return float(np.min(d[np.triu_indices(len(colors), 1)]))
