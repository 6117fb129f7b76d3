"""Data in the ecosystem's formats: datasets folders, parquet, JSON(L); trl's standard and
conversational records, validated like JSONL lines."""

import json

import pytest
from datasets import Dataset, DatasetDict

from common.errors import UserError
from llm_validation.sources.data import load_examples
from llm_validation.sources.formats import render
from llm_validation.sources.synthetic import generate
from llm_validation.sources.tiny import build_tokenizer

# A small chat template in the usual shape (role header, content, end-of-turn), for the tiny
# tokenizer, which ships none.
TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def records(n=5):
    return [
        {
            "prompt": e.prompt,
            "chosen": e.chosen,
            "rejected": e.rejected,
            "irr_hum": e.responses["irr_hum"],
        }
        for e in generate(n, seed=1)
    ]


def write(kind: str, folder, rows):
    """`rows` in one of the formats, → the path to load."""
    if kind == "jsonl":
        path = folder / "d.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif kind == "json-array":
        path = folder / "d.json"
        path.write_text(json.dumps(rows))
    elif kind == "json-lines":
        path = folder / "d.json"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif kind == "parquet":
        path = folder / "d.parquet"
        Dataset.from_list(rows).to_parquet(str(path))
    elif kind == "datasets-folder":
        path = folder / "saved"
        Dataset.from_list(rows).save_to_disk(str(path))
    else:  # a DatasetDict: its train split is read
        path = folder / "saved-dict"
        DatasetDict(
            {"train": Dataset.from_list(rows), "test": Dataset.from_list(rows[:1])}
        ).save_to_disk(str(path))
    return path


KINDS = ["jsonl", "json-array", "json-lines", "parquet", "datasets-folder", "datasets-dict"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_format_yields_the_same_examples_as_jsonl(tmp_path, kind):
    rows = records()
    examples, report = load_examples(str(write(kind, tmp_path, rows)))
    assert [(e.prompt, dict(e.responses)) for e in examples] == [
        (r["prompt"], {k: v for k, v in r.items() if k != "prompt"}) for r in rows
    ]
    assert report.kept == len(rows)


@pytest.mark.parametrize("kind", ["json-array", "parquet", "datasets-folder"])
def test_a_bad_row_is_skipped_and_named_by_file_and_row_as_in_jsonl(tmp_path, kind):
    rows = records()
    rows[2] = {**rows[2], "chosen": ""}
    path = write(kind, tmp_path, rows)
    examples, report = load_examples(str(path))
    assert len(examples) == len(rows) - 1
    assert report.problems == [f"{path}:3: empty or non-string response 'chosen'"]
    with pytest.raises(UserError, match=r":3: empty or non-string response 'chosen'"):
        load_examples(str(path), strict=True)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("d.parquet", b"not parquet", "not a readable parquet file"),
        ("d.json", b"[{", "malformed JSON"),
    ],
)
def test_an_unreadable_file_is_one_line_user_error(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(UserError, match=message) as err:
        load_examples(str(tmp_path / name))
    assert "\n" not in str(err.value)


def test_a_folder_that_is_not_a_saved_dataset_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="not a datasets save_to_disk folder"):
        load_examples(str(tmp_path))


def conversational(rows):
    return [
        {
            "prompt": [{"role": "user", "content": r["prompt"]}],
            "chosen": [{"role": "assistant", "content": r["chosen"]}],
            "rejected": [{"role": "assistant", "content": r["rejected"]}],
        }
        for r in rows
    ]


@pytest.fixture(scope="module")
def chat_tokenizer():
    tokenizer = build_tokenizer()
    tokenizer.chat_template = TEMPLATE
    return tokenizer


def test_conversational_records_render_as_trl_renders_them(chat_tokenizer):
    """Our rendering of a conversational record equals trl.data_utils.apply_chat_template's
    (prompt with the generation prompt; each response as the tail after it)."""
    from trl.data_utils import apply_chat_template

    for record in conversational(records(3)):
        assert render(record, chat_tokenizer.apply_chat_template) == apply_chat_template(
            record, chat_tokenizer
        )


@pytest.mark.parametrize("kind", ["jsonl", "parquet", "datasets-folder"])
def test_conversational_files_load_with_a_chat_template(tmp_path, kind, chat_tokenizer):
    path = write(kind, tmp_path, conversational(records(4)))
    examples, _ = load_examples(str(path), template=chat_tokenizer.apply_chat_template)
    assert len(examples) == 4
    assert examples[0].prompt.endswith("<|end|><|assistant|>")
    assert examples[0].chosen.endswith("<|end|>") and "<|user|>" not in examples[0].chosen


def test_conversational_records_without_a_template_say_so_in_one_line(tmp_path):
    path = write("jsonl", tmp_path, conversational(records(2)))
    with pytest.raises(UserError, match="conversational .* no chat template") as err:
        load_examples(str(path), strict=True)
    assert "\n" not in str(err.value)


def test_malformed_messages_are_a_skipped_row(tmp_path, chat_tokenizer):
    rows = conversational(records(3))
    rows[1]["chosen"] = [{"role": "assistant"}]  # no content
    path = write("jsonl", tmp_path, rows)
    examples, report = load_examples(str(path), template=chat_tokenizer.apply_chat_template)
    assert len(examples) == 2
    assert report.problems == [
        f"{path}:2: 'chosen' is not a non-empty list of {{role, content}} messages"
    ]


def test_run_trains_on_a_datasets_folder(tmp_path):
    """`run --data <save_to_disk folder>` through the whole command (native backend, 1 step)."""
    from llm_validation.cli import main

    path = write("datasets-folder", tmp_path, records(8))
    argv = [
        "run",
        "--model",
        "tiny-neox",
        "--data",
        str(path),
        "--steps",
        "1",
        "--eval-every",
        "1",
        "--no-checkpoint",
        "--out",
        str(tmp_path / "run"),
    ]
    assert main(argv) == 0
    assert (tmp_path / "run" / "metrics.csv").is_file()


def messages_rows(rows):
    """trl's language-modelling format: one `messages` list (user turn, assistant turn)."""
    return [
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": r["prompt"]},
                {"role": "assistant", "content": r["chosen"]},
            ]
        }
        for r in rows
    ]


def test_messages_rows_take_the_last_assistant_turn_as_chosen(tmp_path, chat_tokenizer):
    """An SFT row {"messages": [...]} → prompt = the turns before the last assistant turn (with
    the generation prompt), chosen = that turn, rendered as trl renders prompt/completion."""
    rows = records(3)
    path = write("jsonl", tmp_path, messages_rows(rows))
    examples, _ = load_examples(
        str(path), required=("chosen",), template=chat_tokenizer.apply_chat_template
    )
    assert [e.chosen for e in examples] == [f"{r['chosen']}<|end|>" for r in rows]
    assert examples[0].prompt == (
        f"<|system|>Be brief.<|end|><|user|>{rows[0]['prompt']}<|end|><|assistant|>"
    )


def test_messages_without_an_assistant_turn_are_a_skipped_row(tmp_path, chat_tokenizer):
    rows = messages_rows(records(2))
    rows[1]["messages"] = rows[1]["messages"][:2]
    path = write("jsonl", tmp_path, rows)
    examples, report = load_examples(
        str(path), required=(), template=chat_tokenizer.apply_chat_template
    )
    assert len(examples) == 1
    assert report.problems == [f"{path}:2: 'messages' has no assistant turn to take as y⁺"]


@pytest.mark.parametrize("conversational", [False, True])
def test_implicit_prompt_pairs_split_as_trls_extract_prompt(conversational):
    """Our common prefix equals trl.data_utils.extract_prompt's split, strings and messages."""
    from trl.data_utils import extract_prompt

    from llm_validation.sources.formats import explicit_prompt

    for r in records(4):
        if conversational:
            user = {"role": "user", "content": r["prompt"]}
            pair = {
                "chosen": [user, {"role": "assistant", "content": r["chosen"]}],
                "rejected": [user, {"role": "assistant", "content": r["rejected"]}],
            }
        else:
            pair = {"chosen": r["prompt"] + r["chosen"], "rejected": r["prompt"] + r["rejected"]}
        assert explicit_prompt(pair) == extract_prompt(pair)


def test_implicit_prompt_strings_load_with_the_prompt_split_off(tmp_path):
    rows = [{"chosen": "Q: colour? A: blue", "rejected": "Q: colour? A: green"}]
    examples, _ = load_examples(str(write("jsonl", tmp_path, rows)))
    assert (examples[0].prompt, examples[0].chosen, examples[0].rejected) == (
        "Q: colour? A:",
        " blue",
        " green",
    )


def test_a_tokenizer_without_a_chat_template_is_named_as_such(tmp_path):
    """The callback was given a tokenizer: the error says it has no chat template, not
    "pass tokenizer="."""
    from llm_validation.trl.callback import LearningDynamicsCallback

    path = write("jsonl", tmp_path, messages_rows(records(2)))
    with pytest.raises(UserError, match="has no chat template") as err:
        LearningDynamicsCallback(str(path), tokenizer=build_tokenizer())
    assert "pass tokenizer=" not in str(err.value)


@pytest.mark.parametrize("kind", ["parquet", "datasets-folder"])
def test_a_table_without_the_needed_columns_names_the_columns_it_has_and_needs(tmp_path, kind):
    """A parquet file with other columns names the columns it has and needs, not just `no usable
    examples`."""
    path = write(kind, tmp_path, [{"question": "q", "answer": "a"}] * 3)
    with pytest.raises(UserError, match=r"records have question, answer; needed: prompt, chosen"):
        load_examples(str(path))
