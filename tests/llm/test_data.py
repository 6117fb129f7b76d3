"""Every line validated: problems reported as file:line, skipped and counted, fatal under strict."""

import json

import pytest

from common.errors import UserError
from llm_validation.sources.data import load_examples
from llm_validation.sources.synthetic import generate, reward

GOOD = {"prompt": "\n\nHuman: hi\n\nAssistant:", "chosen": " hello", "rejected": " go away"}


def _write(tmp_path, lines):
    path = tmp_path / "prefs.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_bad_lines_are_reported_with_file_and_line_then_skipped_and_counted(tmp_path):
    """A malformed line, a missing field and an empty response each name file:line; the good
    lines are kept; nothing is dropped silently."""
    path = _write(
        tmp_path,
        [
            json.dumps(GOOD),
            "{not json",
            json.dumps({"prompt": "p", "chosen": " a"}),
            json.dumps({**GOOD, "rejected": "   "}),
            json.dumps(GOOD),
        ],
    )
    examples, report = load_examples(str(path))
    assert len(examples) == 2 and report.lines == 5 and report.kept == 2
    assert [p.split(": ", 1)[0] for p in report.problems] == [f"{path}:{n}" for n in (2, 3, 4)]
    assert "skipped 3 lines" in report.summary()


def test_strict_makes_the_first_problem_fatal(tmp_path):
    path = _write(tmp_path, [json.dumps(GOOD), "[1, 2]"])
    with pytest.raises(UserError, match=r"prefs.jsonl:2: not a JSON object"):
        load_examples(str(path), strict=True)


def test_an_empty_optional_probe_response_drops_only_that_response(tmp_path):
    """A blank chosen_initial (as in 21 HH probes) loses that probe type, not the example."""
    path = _write(tmp_path, [json.dumps({**GOOD, "chosen_initial": "", "irr_hum": " A fact."})])
    (example,), report = load_examples(str(path), required=())
    assert set(example.responses) == {"chosen", "rejected", "irr_hum"}
    assert report.responses_skipped == 1 and len(report.problems) == 1


def test_missing_file_is_a_user_error():
    with pytest.raises(UserError, match="not found"):
        load_examples("no/such/file.jsonl")


def test_synthetic_reward_ranks_the_rule_built_probes():
    """Ground truth: y⁺ and its synonym rephrase score 1, y⁻ (1-2 words replaced) scores less."""
    for ex in generate(20, seed=1):
        assert reward(ex.prompt, ex.chosen) == 1.0
        assert reward(ex.prompt, ex.responses["chosen_gptsemantic"]) == 1.0
        assert reward(ex.prompt, ex.rejected) < 1.0


def test_synthetic_task_is_deterministic_given_the_seed():
    assert generate(5, seed=2) == generate(5, seed=2)
    assert generate(5, seed=2) != generate(5, seed=3)
