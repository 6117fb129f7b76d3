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
    with pytest.raises(UserError, match=r"prefs.jsonl:2: a JSON array, not one object"):
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


# When nothing is usable, the error names the lines and the reasons, not just a count.


def test_when_no_line_is_usable_the_error_lists_the_first_problems_and_a_count_by_reason(tmp_path):
    bad = json.dumps({"prompt": "p", "chosen": " a"})
    path = _write(tmp_path, ["{not json", bad, bad, "{also not"])
    with pytest.raises(UserError) as caught:
        load_examples(str(path))
    message = str(caught.value)
    assert "\n" not in message and f"{path}:1: malformed JSON" in message
    assert f"{path}:2: missing field 'rejected'" in message
    assert "by reason: malformed JSON ×2, missing field 'rejected' ×2" in message


def test_a_json_array_in_a_jsonl_file_is_recognised_and_named(tmp_path):
    path = tmp_path / "prefs.jsonl"
    for text in (
        json.dumps([GOOD, GOOD]),
        "[\n" + json.dumps(GOOD) + ",\n" + json.dumps(GOOD) + "\n]",
    ):
        path.write_text(text)  # one line holding the array, or an indented array
        with pytest.raises(UserError, match=r"prefs.jsonl holds a JSON array.*name it prefs.json"):
            load_examples(str(path))


def test_records_without_the_needed_fields_name_what_they_have_and_need(tmp_path):
    path = _write(tmp_path, [json.dumps({"question": "q", "answer": "a"})] * 2)
    with pytest.raises(UserError, match=r"records have question, answer; needed: prompt, chosen"):
        load_examples(str(path))


def test_a_json_array_file_with_a_utf8_bom_loads_as_its_jsonl_twin(tmp_path):
    (tmp_path / "a.json").write_bytes(b"\xef\xbb\xbf" + json.dumps([GOOD]).encode())
    (tmp_path / "a.jsonl").write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD).encode() + b"\n")
    from_json, _ = load_examples(str(tmp_path / "a.json"))
    from_jsonl, _ = load_examples(str(tmp_path / "a.jsonl"))
    assert (
        [e.responses for e in from_json]
        == [e.responses for e in from_jsonl]
        == [{"chosen": GOOD["chosen"], "rejected": GOOD["rejected"]}]
    )


def test_identical_chosen_and_rejected_are_counted_and_refused_when_every_pair_is(tmp_path):
    same = json.dumps({**GOOD, "rejected": GOOD["chosen"]})
    examples, report = load_examples(str(_write(tmp_path, [same, json.dumps(GOOD), same])))
    assert len(examples) == 3 and report.identical == 2
    assert report.to_json()["identical_pairs"] == 2 and "2 pairs with chosen == rejected" in (
        report.summary()
    )
    with pytest.raises(UserError, match=r"every pair \(2\) has chosen == rejected"):
        load_examples(str(_write(tmp_path, [same, same])))
    probes, _ = load_examples(str(_write(tmp_path, [same])), required=())  # scoring: allowed
    assert len(probes) == 1
