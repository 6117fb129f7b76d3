"""Reading llm_validation's run files: the tidy trace and predict's sweep CSV."""

import numpy as np

from figures.runs import io as runs_io


def test_find_accepts_one_run_or_a_folder_of_runs(fake_runs):
    paths = runs_io.find(fake_runs, runs_io.METRICS)
    assert [p.parent.name for p in paths] == sorted(p.parent.name for p in paths)
    assert runs_io.find(paths[0].parent, runs_io.METRICS) == [paths[0]]
    assert runs_io.find(fake_runs / "nowhere", runs_io.METRICS) == []


def test_find_method_reads_config_json(fake_runs):
    assert runs_io.find_method(fake_runs, "extend-dpo") == fake_runs / "tiny-extend-dpo"
    assert runs_io.find_method(fake_runs, "simpo") is None


def test_read_trace_keeps_each_probe_series_in_step_order(fake_runs):
    trace = runs_io.read_trace(fake_runs / "tiny-dpo" / "metrics.csv")
    steps, values = trace.series("chosen")
    assert steps.tolist() == [0, 2, 4]
    assert np.allclose(values, [-10.0, -11.0, -12.0])
    assert trace.series("train", "loss")[1].size == 3


def test_read_predictions_keeps_the_configured_learning_rate(fake_runs):
    """A --lr-sweep file holds several η; the figure shows the run's own η from config.json."""
    p = runs_io.read_predictions(fake_runs / "predict-dpo" / "predictions.csv")
    assert p.lr == 0.001 and p.predicted.size == 4
    assert (p.method, p.optimizer, p.name) == ("dpo", "sgd", "predict-dpo")


def test_a_malformed_run_file_is_one_line_and_exit_2(fake_runs, tmp_path, capsys):
    """A predictions.csv without its `actual` column: a clear error, not a traceback."""
    from figures import cli

    path = fake_runs / "predict-dpo" / "predictions.csv"
    path.write_text("update,probe_type,lr,predicted\n0,chosen,0.001,0.1\n")
    assert cli.main(["--out", str(tmp_path), "--runs", str(fake_runs), "--only", "11"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing column(s) actual" in err


def test_a_metrics_csv_torn_by_a_kill_draws_from_its_complete_rows(fake_runs):
    """A metrics.csv whose last line a kill tore draws from its complete rows (no TypeError)."""
    path = fake_runs / "tiny-dpo" / "metrics.csv"
    whole = runs_io.read_trace(path)
    with path.open("a") as handle:
        handle.write("6,24,chosen,lo")
    torn = runs_io.read_trace(path)
    assert torn.step.tolist() == whole.step.tolist()


def test_a_metrics_csv_with_a_duplicated_step_is_refused_with_its_line(fake_runs, tmp_path, capsys):
    from figures import cli

    path = fake_runs / "tiny-dpo" / "metrics.csv"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines + [lines[-1]]))  # the last row (step 4's loss) twice
    assert cli.main(["--out", str(tmp_path), "--runs", str(fake_runs), "--only", "10"]) == 2
    err = capsys.readouterr().err
    assert (
        err.count("\n") == 1
        and f"{path}:{len(lines) + 1}: a second row for step 4, train, loss" in err
    )
