"""What the figures draw, read off the matplotlib artists (offsets, bar colours, line data), not
pixels: the axes carry the quantity their labels name, in the paper's colours."""

import colorsys

import matplotlib
import numpy as np
import pytest
from matplotlib.colors import to_rgb, to_rgba

from figures import FIGURES, style
from figures.paper import one_step
from figures.paper import probe_world as sim_runs
from figures.runs import curves as run_curves
from figures.runs import io as runs_io
from figures.runs import onpolicy as run_onpolicy
from figures.runs import plots as run_plots
from figures.runs import predict as run_predict


def _hue(color) -> float:
    """Hue in degrees [0, 360)."""
    return 360.0 * colorsys.rgb_to_hsv(*to_rgb(color))[0]


def _offsets_by_label(ax) -> dict[str, np.ndarray]:
    return {c.get_label(): np.asarray(c.get_offsets()) for c in ax.collections}


def _expect_predicted_on_x_actual_on_y(ax, p: runs_io.Predictions) -> None:
    offsets = _offsets_by_label(ax)
    for kind in dict.fromkeys(p.probe_type.tolist()):
        keep = p.probe_type == kind
        expected = np.column_stack([p.predicted[keep], p.actual[keep]])
        assert np.array_equal(offsets[style.probe_style(kind).label], expected), kind
    assert "predicted" in ax.get_xlabel() and "actual" in ax.get_ylabel()


def test_figure_11_plots_predicted_against_actual(fake_runs):
    """Each point is (predicted, actual) of one probe: x the first-order prediction, y the
    measured change (the fake run's actual = 1.01 × predicted, so a swap or a repeat shows)."""
    cfg = run_predict.Config(runs=fake_runs)
    (p,) = run_predict.compute(cfg)
    assert not np.array_equal(p.predicted, p.actual)
    with style.context():
        fig = run_predict.plot([p], cfg)
    _expect_predicted_on_x_actual_on_y(fig.axes[0], p)


def test_a_predict_runs_scatter_plots_predicted_against_actual(fake_runs):
    folder = fake_runs / "predict-dpo"
    with style.context():
        fig = run_plots.scatter(folder)
    p = runs_io.read_predictions(folder / runs_io.PREDICTIONS)
    _expect_predicted_on_x_actual_on_y(fig.axes[0], p)


def _panel(fig, title_part: str):
    return next(ax for ax in fig.axes if title_part in ax.get_title())


def test_figure_1_draws_the_chosen_label_blue_and_the_rejected_label_orange():
    """In the residual G(x_u) and the Δ log π bars of x_u, the bar of y⁺_u is blue, of y⁻_u
    orange, as in every probe figure of the paper; the other labels grey."""
    cfg = one_step.TINY
    d = one_step.compute(cfg)
    assert d.chosen != d.rejected
    with style.context():
        fig = one_step.plot(d, cfg)
    for ax in (_panel(fig, "G(x_u)"), _panel(fig, "updated input")):
        bars = [b for b in ax.patches if b.get_fill()][: cfg.vocab]  # the filled (actual) bars
        colors = [b.get_facecolor() for b in bars]
        assert colors[d.chosen] == to_rgba(style.BLUE)
        assert colors[d.rejected] == to_rgba(style.ORANGE)
        others = [c for i, c in enumerate(colors) if i not in (d.chosen, d.rejected)]
        assert all(c == to_rgba(style.GREY) for c in others)


def test_the_style_draws_chosen_blue_rejected_orange_irrelevant_red_and_y_star_black():
    """The paper's colours as colours, not only as distinct ones: hue of chosen 180–250°
    (blue), rejected 20–50° (orange), irrelevant within 15° of red; y* black."""
    colors = style.FAMILY_COLORS
    assert 180 <= _hue(colors["chosen"]) <= 250
    assert 20 <= _hue(colors["rejected"]) <= 50
    assert min(_hue(colors["irrelevant"]), 360 - _hue(colors["irrelevant"])) <= 15
    assert to_rgb(colors["y*"]) == (0.0, 0.0, 0.0)
    assert style.PROBES["chosen"].color == colors["chosen"] == style.BLUE


def test_a_rise_is_blue_in_lines_and_in_heat_maps():
    """Positive changes: style.RISE and the top of the diverging map are both blue."""
    top = matplotlib.colormaps[style.DIVERGING](1.0)[:3]
    assert 180 <= _hue(style.RISE) <= 250 and 180 <= _hue(top) <= 250
    assert min(_hue(style.FALL), 360 - _hue(style.FALL)) <= 15


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_the_family_panels_of_figure_10_honour_ema(fake_runs, ema):
    """Every drawn curve is style.ema(values, α) of its probe type's logp series."""
    spec = next(s for s in FIGURES if s.module is run_curves)
    cfg = spec.config(tiny=True, runs=fake_runs, ema=ema)
    assert cfg.ema == ema  # the --ema override reaches the figure's config
    runs = run_curves.compute(cfg)
    with style.context():
        figs = run_curves.plot(runs, cfg)
    assert (
        sorted(figs)
        == sorted(runs)
        == sorted(p.parent.name for p in fake_runs.glob("*/metrics.csv"))
    )
    fig, trace = figs["tiny-dpo"], runs["tiny-dpo"].trace
    by_label = {s.label: name for name, s in style.PROBES.items()}
    lines = [line for ax in fig.axes for line in ax.lines if line.get_label() in by_label]
    assert len(lines) == len(style.PROBES)  # the fake run tracks every probe type
    for line in lines:
        steps, values = trace.series(by_label[line.get_label()], "logp")
        assert np.array_equal(line.get_xdata(), steps)
        assert np.allclose(line.get_ydata(), style.ema(values, ema))
        assert ema == 0.0 or not np.allclose(line.get_ydata(), values)


def test_a_run_folders_curves_honour_ema(fake_runs):
    with style.context():
        fig = run_plots.curves(fake_runs / "tiny-dpo", ema=0.9)
    trace = runs_io.read_trace(fake_runs / "tiny-dpo" / "metrics.csv")
    line = next(
        ln for ax in fig.axes for ln in ax.lines if ln.get_label() == style.PROBES["chosen"].label
    )
    assert np.allclose(line.get_ydata(), style.ema(trace.series("chosen", "logp")[1], 0.9))
    assert len(fig.axes) == len(sim_runs.FAMILY_PANELS) + 1  # and the token diagnostics


def test_figure_10_marks_where_a_two_phase_runs_dpo_begins(fake_runs):
    """extend-dpo with sft_steps 2: a dotted line at step 2 in every panel; none for plain DPO."""
    runs = run_curves.compute(run_curves.Config(runs=fake_runs))
    with style.context():
        figs = run_curves.plot(runs, run_curves.Config())

    def marks(fig):
        return [
            ln.get_xdata()[0]
            for ax in fig.axes
            for ln in ax.lines
            if ln.get_label() == "_DPO begins"
        ]

    assert marks(figs["tiny-extend-dpo"]) == [2] * len(figs["tiny-extend-dpo"].axes)
    assert marks(figs["tiny-dpo"]) == []


def test_figure_14_plots_each_methods_mean_change_of_the_untrained_types(fake_runs):
    """The fake runs fall by 0.5 (dpo) and 0.2 (onpolicy-dpo) nats per step in every type, so the
    last panel's lines are −0.5·step and −0.2·step."""
    cfg = run_onpolicy.Config(runs=fake_runs)
    with style.context():
        fig = run_onpolicy.plot(run_onpolicy.compute(cfg), cfg)
    panel = fig.axes[-1]
    by_label = {ln.get_label(): ln for ln in panel.lines}
    for method, slope in (("off-policy DPO", -0.5), ("on-policy DPO", -0.2)):
        line = by_label[method]
        assert np.allclose(line.get_ydata(), slope * np.asarray(line.get_xdata()))


def test_influence_heat_maps_share_a_scale_symmetric_about_zero_with_rises_blue(tmp_path):
    """I[r, c] = −3 … +1: each panel spans [−3, 3] of the diverging map, so 0 sits at its white
    centre and a rise (positive) is drawn blue."""
    rows = ["train_type,probe_type,same_prompt,other_prompts,total"]
    for r, values in (("chosen", (-3.0, 1.0)), ("rejected", (0.5, -1.0))):
        rows += [f"{r},{c},{v},{v / 2},{1.5 * v}" for c, v in zip(("chosen", "rejected"), values)]
    (tmp_path / "influence.csv").write_text("\n".join(rows) + "\n")
    with style.context():
        fig = run_plots.influence(tmp_path)
    images = [im for ax in fig.axes for im in ax.images]
    assert [im.get_clim() for im in images] == [(-3.0, 3.0), (-1.5, 1.5), (-4.5, 4.5)]
    assert all(im.get_cmap().name == style.DIVERGING for im in images)
    assert np.array_equal(images[0].get_array(), [[-3.0, 1.0], [0.5, -1.0]])


def test_a_predict_run_is_read_at_its_configured_lr_not_the_largest(fake_runs):
    folder = fake_runs / "predict-dpo"
    (folder / "config.json").write_text('{"lr": 0.0005, "method": "dpo", "optimizer": "sgd"}')
    p = runs_io.read_predictions(folder / runs_io.PREDICTIONS)
    assert p.lr == 0.0005 and np.allclose(p.predicted, 0.0005 * (np.arange(4) - 1.5))


def test_the_real_squeeze_figure_draws_each_types_change_and_marks_the_peak_and_the_crossing(
    tmp_path,
):
    """Figure 16 reads the cpu-squeeze run (by config.json's preset, not the first DPO run by
    name), draws each type's change since step 0, and marks y⁺'s peak and its first step below."""
    import json

    from figures.runs import real_squeeze

    chosen = {0: -100.0, 10: -95.0, 20: -98.0, 30: -103.0}
    for name, preset in (("a-dpo", "cpu-dpo"), ("b", "cpu-squeeze")):
        run = tmp_path / name
        run.mkdir()
        (run / "config.json").write_text(json.dumps({"method": "dpo", "preset": preset}))
        lines = ["step,examples_seen,probe_type,metric,value"]
        for step, value in chosen.items():
            lines += [f"{step},{4 * step},chosen,logp,{value}"]
            lines += [f"{step},{4 * step},rejected,logp,{-80.0 - step}"]
        (run / "metrics.csv").write_text("\n".join(lines) + "\n")
    cfg = real_squeeze.Config(runs=tmp_path, reference=tmp_path / "absent")
    panels = real_squeeze.compute(cfg)
    assert len(panels) == 1 and panels[0].title.startswith("b:")
    with style.context():
        ax = real_squeeze.plot(panels, cfg).axes[0]
    line = next(ln for ln in ax.lines if ln.get_label() == style.probe_style("chosen").label)
    assert line.get_ydata().tolist() == [0.0, 5.0, 2.0, -3.0]
    texts = [t.get_text() for t in ax.texts]
    assert any("peak +5.0\n(step 10)" in t for t in texts)
    assert any("below its start\nfrom step 30" in t for t in texts)


def test_the_real_squeeze_figure_shades_chosens_prompt_band_and_marks_where_it_clears_zero(
    tmp_path,
):
    """With prompts.csv, y⁺'s band is Δ̄ ± t₃·sd/2 over 4 prompts, and the marked step is the one
    from which its upper edge stays below zero: step 40, not step 30 where the mean is already
    below but two prompts still sit above their start."""
    import json

    from scipy import stats

    from figures.runs import real_squeeze

    offsets = {0: [0, 0, 0, 0], 10: [4, 6, 4, 6], 20: [1, 3, 1, 3], 30: [-9, 3, -9, 3]}
    offsets[40] = [-5, -7, -5, -7]
    run = tmp_path / "squeeze"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"method": "dpo", "preset": "cpu-squeeze"}))
    lines = ["step,examples_seen,probe_type,metric,value"]
    prompt_lines = ["step,probe_type,prompt,logp"]
    for step, d in offsets.items():
        lines.append(f"{step},{4 * step},chosen,logp,{-100.0 + np.mean(d)}")
        prompt_lines += [f"{step},chosen,p{j},{-100.0 + v}" for j, v in enumerate(d)]
    (run / "metrics.csv").write_text("\n".join(lines) + "\n")
    (run / "prompts.csv").write_text("\n".join(prompt_lines) + "\n")
    cfg = real_squeeze.Config(runs=tmp_path, reference=tmp_path / "absent")
    (panel,) = real_squeeze.compute(cfg)
    half = stats.t.ppf(0.975, 3) * np.std([-9, 3, -9, 3], ddof=1) / 2
    assert np.isclose(panel.band.high[3], -3.0 + half) and panel.band.high[3] > 0
    assert panel.band.high[4] < 0
    with style.context():
        ax = real_squeeze.plot([panel], cfg).axes[0]
    assert any("band below\nits start from step 40" in t.get_text() for t in ax.texts)


def test_the_band_clears_zero_only_where_it_stays_below_after_the_peak():
    from figures.runs.real_squeeze import clear_below

    steps = np.array([0, 1, 2, 3, 4, 5])
    assert clear_below(steps, np.array([0.0, -1.0, 2.0, -1.0, 1.0, -2.0]), after=2) == 5
    assert clear_below(steps[:4], np.array([0.0, -1.0, 2.0, -1.0]), after=1) == 3
    assert clear_below(steps, np.array([0.0, -1.0, -2.0, -3.0, -4.0, -1.0]), after=3) == 4
    assert clear_below(steps, np.array([0.0, 1.0, 2.0, 3.0, 4.0, 1.0]), after=2) is None
    # an upper edge exactly at zero is not below it
    assert clear_below(steps, np.array([0.0, 1.0, -1.0, 0.0, -1.0, -1.0]), after=1) == 4
