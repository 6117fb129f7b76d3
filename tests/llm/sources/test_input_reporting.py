"""Nothing is skipped or cut in silence: skipped lines are named (file:line: reason), truncation
is reported per probe type, and the prompt/response boundary and budget are options."""

import json
import subprocess
import sys

import pytest

from llm_validation.core.logprobs import CutReport, Tokenized, Truncation, encode, tokenize_example
from llm_validation.sources.models import load_model

LONG = " word" * 3000  # far past any budget


@pytest.fixture(scope="module")
def tokenizer():
    return load_model("tiny-neox")[1]


def test_a_non_strict_load_names_every_bad_line_and_reports_the_cut(tmp_path):
    """Four bad lines (malformed JSON, no response, not an object, empty prompt) are each named
    on stderr as file:line: reason, and the over-long response's cut is reported."""
    path = tmp_path / "probes.jsonl"
    lines = [
        {"prompt": "Human: hi\n\nAssistant:", "chosen": " hello", "rejected": " go"},
        "{bad",
        {"prompt": "p"},
        [1],
        {"prompt": "", "chosen": " x"},
        {"prompt": "Human: long\n\nAssistant:", "chosen": LONG},
    ]
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "llm_validation",
            "logprobs",
            "--model",
            "tiny-neox",
            "--probes",
            str(path),
            "--max-length",
            "128",
            "--max-prompt-length",
            "32",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    err = result.stderr
    for number, reason in [
        (2, "malformed JSON"),
        (3, "no response field"),
        (4, "a JSON array, not one object"),
        (5, "missing or empty 'prompt'"),
    ]:
        assert f"{path}:{number}: {reason}" in err
    assert "skipped 4 lines" in err
    assert "truncation cut 1 of 2 chosen responses (largest cut" in err


def test_more_problems_than_shown_are_counted(tmp_path):
    from llm_validation.sources.data import SHOWN_PROBLEMS, load_examples

    path = tmp_path / "p.jsonl"
    path.write_text('{"prompt": "p", "chosen": " a"}\n' + "{bad\n" * (SHOWN_PROBLEMS + 3))
    _, report = load_examples(str(path), required=())
    notes = report.notes()
    assert len(notes) == SHOWN_PROBLEMS + 1 and notes[-1].startswith("… and 3 more problems")


def test_cut_report_counts_cuts_per_type_and_the_largest(tokenizer):
    cut = CutReport()
    truncation = Truncation(max_length=64, max_prompt_length=16)
    tokenize_example(
        tokenizer, "Human: q\n\nAssistant:", {"chosen": LONG, "rejected": " no"}, truncation, cut
    )
    full = len(encode(tokenizer, LONG)) + 1  # EOS
    assert cut.responses == {"chosen": 1, "rejected": 1}
    assert cut.cut == {"chosen": 1} and cut.largest["chosen"] == full - (64 - 16)


def test_share_budget_gives_a_short_prompts_unused_tokens_to_the_response(tokenizer):
    prompt = "Human: q\n\nAssistant:"
    n_prompt = len(encode(tokenizer, prompt))
    fixed = tokenize_example(tokenizer, prompt, {"y": LONG}, Truncation(64, 16))["y"]
    shared = tokenize_example(tokenizer, prompt, {"y": LONG}, Truncation(64, 16, share_budget=True))
    assert n_prompt < 16
    assert fixed.response_len == 64 - 16
    assert shared["y"].response_len == 64 - n_prompt and len(shared["y"].ids) == 64


def test_trl_boundary_is_the_joint_tokenisation_and_separate_is_the_concatenation(tokenizer):
    """`trl`: prompt ids + response ids == encode(prompt + response) (minus EOS); `separate`:
    the prompt's own ids then the response's own ids (the tiny tokenizer splits at spaces, so
    here the two agree; `test_trl_boundary_moves_a_merged_token_into_the_response` has a merge)."""
    prompt = "Human: hi\n\nAssistant: "
    for response in ("Sure", "yes", " ok", "Sure thing", "\n\nHuman: no"):
        for boundary in ("separate", "trl"):
            t = tokenize_example(tokenizer, prompt, {"y": response}, Truncation(boundary=boundary))
            ids = list(t["y"].ids[:-1])  # EOS off
            if boundary == "trl":
                assert ids == encode(tokenizer, prompt + response)
            else:
                assert ids == encode(tokenizer, prompt) + encode(tokenizer, response)


class MergingTokenizer:
    """Characters as ids, except that "ab" is one token (id 0): the smallest tokenizer whose
    joint tokenisation differs from the concatenation, as a BPE merge across the boundary does."""

    eos_token_id = 1

    def __call__(self, text, add_special_tokens=False):
        ids, i = [], 0
        while i < len(text):
            if text.startswith("ab", i):
                ids.append(0)
                i += 2
            else:
                ids.append(ord(text[i]))
                i += 1
        return {"input_ids": ids}


def test_trl_boundary_moves_a_merged_token_into_the_response():
    """Prompt "xa": chosen "by" merges (jointly x, ab, y), rejected "cy" does not (x, a, c, y).
    trl's rule starts a response where prompt and prompt+response diverge, and chosen and
    rejected share the earlier boundary (after x); another probe response keeps its own. The
    separate rule keeps x, a | b, y."""
    tok = MergingTokenizer()
    x, a, b, c, y = (ord(ch) for ch in "xabcy")
    responses = {"chosen": "by", "rejected": "cy", "irr_hum": "cy"}
    trl = tokenize_example(tok, "xa", responses, Truncation(boundary="trl"))
    separate = tokenize_example(tok, "xa", responses, Truncation(boundary="separate"))
    assert trl["chosen"] == Tokenized((x, 0, y, 1), prompt_len=1)
    assert trl["rejected"] == Tokenized((x, a, c, y, 1), prompt_len=1)  # the pair's boundary
    assert trl["irr_hum"] == Tokenized((x, a, c, y, 1), prompt_len=2)  # its own boundary
    assert separate["chosen"] == Tokenized((x, a, b, y, 1), prompt_len=2)
