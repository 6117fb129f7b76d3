"""`python -m llm_validation predict|influence` write what they promise."""

import json

from llm_validation.cli import main


def test_predict_json_reports_the_three_headline_numbers(tmp_path, capsys):
    """--json prints one object with pearson_r, sign_agreement and relative_error; the run folder
    holds the CSV, the scatter plot and the factors."""
    out = tmp_path / "p"
    argv = [
        "predict",
        "--model",
        "tiny-neox",
        "--updates",
        "1",
        "--loss",
        "dpo",
        "--json",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"pearson_r", "sign_agreement", "relative_error"} <= summary.keys()
    for name in ("predictions.csv", "scatter.png", "factors.json", "summary.json", "config.json"):
        assert (out / name).is_file()


def test_influence_writes_csv_and_heat_map(tmp_path):
    out = tmp_path / "i"
    assert main(["influence", "--model", "tiny-neox", "--limit", "2", "--out", str(out)]) == 0
    rows = (out / "influence.csv").read_text().splitlines()
    assert rows[0] == "train_type,probe_type,same_prompt,other_prompts,total"
    assert len(rows) == 1 + 2 * 11  # rows chosen, rejected × the 11 synthetic probe types
    assert (out / "influence.png").is_file()
