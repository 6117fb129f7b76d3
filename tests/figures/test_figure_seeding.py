"""Figures draw simulator runs exactly as `python -m simulator run` does: same world, same π₀,
same streams, so the gallery's curves are the CLI's numbers."""

import json

from figures.paper import probe_world as sim_runs
from simulator.experiments.cli import main as simulator_main


def test_figure_5_starts_where_simulator_run_sft_starts(capsys, tmp_path):
    assert simulator_main(["run", "sft", "--steps", "2", "--out", str(tmp_path), "--json"]) == 0
    cli_start = json.loads(capsys.readouterr().out)["trends"]["chosen"]["start"]
    steps, logp = sim_runs.run("sft", sim_runs.CurveConfig(steps=2, eval_every=1)).series("chosen")
    assert steps[0] == 0
    assert logp[0] == cli_start  # bit for bit: the same computation, not a similar one
