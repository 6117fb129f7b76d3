"""Figure 15 reads a reference run's squeeze footprint and puts the simulator's beside it; without
the reference run it is skipped (or refused by --only) with its reason."""

from dataclasses import replace

import numpy as np
import pytest

from figures import FIGURES, cli, style
from figures.paper import curves
from figures.runs import dpo_reference
from simulator import EXPERIMENTS
from simulator.metrics import Trace


def _write_reference(folder):
    """A reference metrics.csv over steps 0, 10, 20: y⁺'s per-token log π −2.0, −1.5, −2.5, mass
    outside the argmax 0.5, 0.4, 0.3, and two bystanders whose per-token changes are
    (0, −1, −2) and (0, +1, −4): mean (0, 0, −3)."""
    rows = ["step,examples_seen,probe_type,metric,value"]
    for i, step in enumerate((0, 10, 20)):
        rows.append(f"{step},0,chosen,logp_token,{(-2.0, -1.5, -2.5)[i]}")
        rows.append(f"{step},0,chosen,mass_outside_argmax,{(0.5, 0.4, 0.3)[i]}")
        rows.append(f"{step},0,irr_test,logp_token,{-3.0 - i}")
        rows.append(f"{step},0,irr_hum,logp_token,{(-4.0, -3.0, -8.0)[i]}")
        rows.append(f"{step},0,rejected,logp_token,{-9.0 * i}")  # trained: not a bystander
    folder.mkdir(parents=True)
    (folder / "metrics.csv").write_text("\n".join(rows) + "\n")


def test_reference_curves_are_per_token_against_the_fraction_of_the_run(tmp_path):
    _write_reference(tmp_path / "ref")
    cfg = replace(dpo_reference.TINY, reference=str(tmp_path / "ref"))
    data = dpo_reference.compute(cfg)
    ref = data["SmolLM2-135M reference"]
    np.testing.assert_array_equal(ref.fraction, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(ref.chosen_token_logp, [-2.0, -1.5, -2.5])
    np.testing.assert_array_equal(ref.mass_outside_argmax, [0.5, 0.4, 0.3])
    np.testing.assert_array_equal(ref.bystander_token_change, [0.0, 0.0, -3.0])
    with style.context():
        fig = dpo_reference.plot(data, cfg)
    assert fig._suptitle.get_text() and len(fig.get_axes()) == len(dpo_reference.PANELS)


def test_simulator_curves_divide_by_the_fixed_response_length():
    """The simulator's responses have length L: per-token = sequence log-prob / L."""
    rows = [
        (s, 0, p, m, v)
        for s, a, b, c in ((0, -32.0, 0.3, 0.0), (5, -16.0, 0.2, -8.0))
        for p, m, v in (("chosen", "logp", a), ("chosen", "mass_outside_argmax", b))
        + (("squeeze", "bystander_change", c),)
    ]
    curves = dpo_reference.simulator_curves(Trace.from_rows(rows), length=16)
    np.testing.assert_array_equal(curves.fraction, [0.0, 1.0])
    np.testing.assert_array_equal(curves.chosen_token_logp, [-2.0, -1.0])
    np.testing.assert_array_equal(curves.bystander_token_change, [0.0, -0.5])


def test_without_the_reference_the_figure_is_skipped_with_its_reason(tmp_path, monkeypatch):
    spec = next(s for s in FIGURES if s.module is dpo_reference)
    missing = replace(dpo_reference.TINY, reference=str(tmp_path / "absent"))
    assert "no reference run" in spec.unavailable(missing)
    monkeypatch.setattr(dpo_reference, "Config", lambda: missing)
    assert cli.main(["--out", str(tmp_path / "out"), "--only", "15"]) == 2


@pytest.mark.parametrize("module", [curves.DPO, dpo_reference], ids=["dpo_curves", "dpo_reference"])
def test_the_dpo_figures_draw_the_clis_run_length(module):
    """Figures 6 and 15 draw `run dpo` as the CLI runs it: its 300 steps."""
    assert module.Config().steps == EXPERIMENTS["dpo"].steps
