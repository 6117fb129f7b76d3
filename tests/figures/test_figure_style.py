"""The shared style: the paper's colour convention stays colour-blind safe; EMA matches the paper."""

import numpy as np
import pytest

from figures import style


@pytest.mark.parametrize("kind", [None, "protanopia", "deuteranopia", "tritanopia"])
def test_probe_families_stay_distinct_under_colour_blindness(kind):
    """Chosen, rejected, irrelevant, random and y* colours keep CIE76 ΔE > 25 for every CVD type.

    ΔE ≈ 2 is a just-noticeable difference; 25 keeps lines of different families apart at a glance.
    """
    assert style.cvd_min_distance(list(style.FAMILY_COLORS.values()), kind) > 25


def test_rise_and_fall_colours_stay_distinct_under_colour_blindness():
    for kind in [None, *style.CVD_MATRICES]:
        assert style.cvd_min_distance([style.RISE, style.FALL], kind) > 25


def test_cvd_simulation_collapses_red_green_for_deuteranopes():
    """The oracle itself: pure red and green, far apart normally, come close under deuteranopia."""
    normal = style.cvd_min_distance(["#ff0000", "#00ff00"], None)
    assert style.cvd_min_distance(["#ff0000", "#00ff00"], "deuteranopia") < normal / 2


def test_every_probe_type_has_its_family_colour_and_a_paper_symbol():
    family = {
        "chosen": "chosen",
        "reject": "rejected",
        "irr": "irrelevant",
        "random": "random",
        "y_star": "y*",
    }
    for name, s in style.PROBES.items():
        prefix = next(p for p in family if name.startswith(p))
        assert s.color == style.FAMILY_COLORS[family[prefix]]
        assert s.label.startswith("$")
    assert style.PROBES["y_star"].ls == "--"


def test_ema_is_the_papers_recursion():
    """s_t = α s_{t−1} + (1 − α) x_t with s_0 = x_0 (the paper smooths with α = 0.9)."""
    x = np.array([1.0, 3.0, -2.0])
    assert np.allclose(style.ema(x, 0.9), [1.0, 1.2, 0.88])
    assert np.array_equal(style.ema(x, 0.0), x)
    with pytest.raises(ValueError):
        style.ema(x, 1.0)


def test_unknown_probe_types_are_drawn_grey_with_their_name():
    s = style.probe_style("my_probe")
    assert s.color == style.GREY and s.label == "my probe"


def run_figure_near(value: float):
    """Figure 10 of a run whose curves sit near `value` (−572.6 below), drawn and laid out
    under the shared style."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from figures.runs.curves import RunTrace, run_figure
    from simulator.metrics import Trace

    rows = [
        (step, 4 * step, kind, "logp", value + 1e-3 * (step + i))
        for step in (0, 2, 4)
        for i, kind in enumerate(["chosen", "chosen_selfr", "y_star"])
    ]
    with style.context():
        fig = run_figure("tiny", RunTrace(Trace.from_rows(rows), "sft", 0), ema=0.0)
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
    return fig, canvas.get_renderer()


def test_tick_labels_are_plain_numbers_without_an_offset():
    """Every axis shows plain values, never an offset like `−5.726e2` plus tiny ticks."""
    fig, _ = run_figure_near(-572.6)
    for ax in fig.axes:
        assert ax.yaxis.get_major_formatter().get_offset() == ""


def test_run_figure_legends_sit_below_their_axes_outside_the_data():
    fig, renderer = run_figure_near(-30.0)
    legends = [(ax, ax.get_legend()) for ax in fig.axes if ax.get_legend() is not None]
    assert legends
    for ax, legend in legends:
        assert legend.get_window_extent(renderer).y1 <= ax.get_window_extent(renderer).y0
