"""Every figure runs compute → plot → save on its tiny config, and the CLI writes every file."""

from __future__ import annotations

import pytest

import figures
from figures import FIGURES, cli, draw, registry, style

SIMULATOR_FIGURES = [s for s in FIGURES if not s.needs_runs]
RUN_FIGURES = [s for s in FIGURES if s.needs_runs]


@pytest.mark.parametrize("spec", SIMULATOR_FIGURES, ids=lambda s: s.name)
def test_each_figure_smoke_computes_and_plots_a_titled_figure(spec):
    """compute → plot on the tiny config; the figure carries a title and labelled axes.

    Saving is covered once for all figures by the CLI test below.
    """
    cfg = spec.config(tiny=True)
    if spec.unavailable(cfg) is not None:
        pytest.skip(spec.unavailable(cfg))  # figure 15 without ../shared's reference run
    data = spec.module.compute(cfg)
    with style.context():
        fig = spec.module.plot(data, cfg)
        assert fig._suptitle is not None and fig._suptitle.get_text()
        plotted = [
            ax for ax in fig.get_axes() if ax.get_xticks().size and ax.get_label() != "<colorbar>"
        ]
        labelled = [ax for ax in plotted if ax.get_xlabel() or ax.get_title()]
        assert labelled, "no axis carries a label or a title"


@pytest.mark.parametrize("spec", RUN_FIGURES, ids=lambda s: s.name)
def test_each_runs_figure_smoke_computes_and_plots(spec, fake_runs):
    cfg = spec.config(tiny=True, runs=fake_runs)
    with style.context():
        drawn = spec.module.plot(spec.module.compute(cfg), cfg)
    figs = drawn.values() if isinstance(drawn, dict) else [drawn]  # one per run, or one
    assert figs and all(fig._suptitle.get_text() for fig in figs)


def test_draw_writes_one_file_per_format(tiny_configs, tmp_path):
    spec = SIMULATOR_FIGURES[0]
    paths = draw(spec, spec.config(tiny=True), tmp_path, ("png", "pdf"))
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    assert all(p.stat().st_size > 0 for p in paths)


@pytest.fixture
def tiny_configs(monkeypatch):
    """Make the CLI draw every figure on its tiny config, rendered at a low resolution."""
    monkeypatch.setitem(style.RC, "savefig.dpi", 30)
    full = registry.FigureSpec.config
    monkeypatch.setattr(
        registry.FigureSpec, "config", lambda self, tiny=False, **o: full(self, True, **o)
    )


def test_cli_with_runs_writes_every_figure_non_empty(tiny_configs, fake_runs, tmp_path, capsys):
    """Every figure file is written and non-empty (the simulator's and the runs')."""
    out = tmp_path / "out"
    assert cli.main(["--out", str(out), "--runs", str(fake_runs), "--ema", "0.9"]) == 0
    drawable = [s for s in FIGURES if s.unavailable(s.config(tiny=True)) is None]
    assert f"{len(drawable)} figures in" in capsys.readouterr().out
    written = sorted(p.name for p in out.iterdir())
    per_run = [f"10_run_curves_{p.parent.name}.png" for p in fake_runs.glob("*/metrics.csv")]
    assert written == sorted([f"{s.stem}.png" for s in drawable if s.number != 10] + per_run)
    assert all((out / name).stat().st_size > 0 for name in written)


def test_cli_draws_only_the_runs_figures_whose_files_exist(tiny_configs, fake_runs, tmp_path):
    (fake_runs / "predict-dpo" / "predictions.csv").unlink()
    assert cli.main(["--out", str(tmp_path), "--runs", str(fake_runs), "--only", "10"]) == 0
    assert cli.main(["--out", str(tmp_path), "--runs", str(fake_runs), "--only", "11"]) == 2


def test_a_comparison_figure_needs_a_run_of_each_method(tiny_configs, fake_runs, tmp_path, capsys):
    """Without an onpolicy-dpo run, figure 14 is skipped with its reason, or refused by --only."""
    (fake_runs / "tiny-onpolicy" / "config.json").write_text('{"method": "dpo"}')
    assert cli.main(["--out", str(tmp_path), "--runs", str(fake_runs)]) == 0
    assert "skipped 14_run_onpolicy: no onpolicy-dpo run in" in capsys.readouterr().out
    assert cli.main(["--out", str(tmp_path), "--runs", str(fake_runs), "--only", "14"]) == 2
    assert "no onpolicy-dpo run" in capsys.readouterr().err


def test_only_draws_what_it_can_and_names_what_it_skipped(
    tiny_configs, fake_runs, tmp_path, capsys
):
    """`--only 10,13,14` (docs/findings.md's) without an onpolicy-dpo run: 10 and 13 are drawn, 14 is
    named with its reason, as the full run does."""
    (fake_runs / "tiny-onpolicy" / "config.json").write_text('{"method": "dpo"}')
    out = tmp_path / "out"
    assert cli.main(["--out", str(out), "--runs", str(fake_runs), "--only", "10,13,14"]) == 0
    printed = capsys.readouterr().out
    assert "skipped 14_run_onpolicy: no onpolicy-dpo run in" in printed
    drawn = {p.name.split("_")[0] for p in out.iterdir()}
    assert drawn == {"10", "13"}


def test_cli_only_selects_by_name_or_number(tiny_configs, tmp_path):
    assert cli.main(["--out", str(tmp_path), "--only", "squeezing,1"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["01_one_step.png", "03_squeezing.png"]


@pytest.mark.parametrize(
    "argv",
    [
        ["--only", "nope"],
        ["--format", "jpg"],
        ["--format", ""],
        ["--runs", "/definitely/not/here"],
        ["--ema", "1.5"],
        ["--bogus"],
        ["--dpi", "5"],
        ["--out", __file__],
        ["--only", "run_curves"],
        ["--runs", "."],
    ],
)
def test_cli_bad_input_is_one_line_on_stderr_and_exit_2(argv, tmp_path, capsys):
    assert cli.main(["--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("python -m figures: error:")
    assert not any(tmp_path.iterdir())


def test_the_public_surface_lists_the_figures_in_order():
    assert [s.number for s in figures.FIGURES] == sorted(s.number for s in figures.FIGURES)
    assert len({s.name for s in figures.FIGURES}) == len(figures.FIGURES)
