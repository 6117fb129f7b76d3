"""`python -m llm_validation generate`: left-padded batches, resume, entropy, user errors."""

import json
import math

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from llm_validation.cli import main  # noqa: E402


def _generate(tmp_path, name, *extra):
    out = tmp_path / name
    code = main(
        [
            "generate",
            "--model",
            "tiny-neox",
            "--out",
            str(out),
            "--limit",
            "6",
            "--max-new-tokens",
            "8",
            "--json",
            *extra,
        ]
    )
    records = [json.loads(line) for line in (out / "generations.jsonl").read_text().splitlines()]
    return code, records, json.loads((out / "diversity.json").read_text())


def test_left_padded_batches_decode_exactly_what_batch_size_one_decodes(tmp_path, capsys):
    """Greedy decoding is deterministic, so a batch of 4 prompts of different lengths (left
    padded, position ids from the mask) must produce the same responses as one at a time."""
    _, batched, _ = _generate(tmp_path, "b4", "--temperature", "0", "--batch-size", "4")
    _, single, _ = _generate(tmp_path, "b1", "--temperature", "0", "--batch-size", "1")
    lengths = {len(r["prompt"]) for r in batched}
    assert len(lengths) > 1  # the batch really needed padding
    assert [r["response"] for r in batched] == [r["response"] for r in single]
    assert [r["tokens"] for r in batched] == [r["tokens"] for r in single]


def test_a_resumed_run_continues_after_the_last_complete_batch_and_draws_the_same(tmp_path, capsys):
    """Cut the file after the first batch (plus half a line, as a crash would, beside the
    config.json written first); --resume rewrites nothing before it and samples the rest exactly
    as the uninterrupted run did."""
    _, full, _ = _generate(tmp_path, "full", "--batch-size", "4")
    path = tmp_path / "cut" / "generations.jsonl"
    path.parent.mkdir()
    lines = (tmp_path / "full" / "generations.jsonl").read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:4]) + lines[4][:20])
    config = json.loads((tmp_path / "full" / "config.json").read_text())
    (path.parent / "config.json").write_text(json.dumps({**config, "out": str(path.parent)}))
    code, resumed, summary = _generate(tmp_path, "cut", "--batch-size", "4", "--resume")
    assert code == 0
    assert resumed == full
    assert summary["n"] == 6 and summary["tokens_generated"] == sum(r["tokens"] for r in full[4:])


def test_entropy_is_that_of_the_sampling_distribution(tmp_path, capsys):
    """T = 1, p = 1: H̄ ∈ (0, log V]; a nucleus of one token (p → 0) samples from a point mass,
    H̄ = 0 up to float32 round-off."""
    _, _, wide = _generate(tmp_path, "wide")
    _, _, narrow = _generate(tmp_path, "narrow", "--top-p", "1e-9")
    assert 0 < wide["mean_token_entropy"] <= math.log(512) + 1e-4  # V = 512 (tiny tokenizer)
    assert narrow["mean_token_entropy"] == pytest.approx(0.0, abs=1e-5)  # fp32 softmax of one


@pytest.mark.parametrize("resume", [False, True])
def test_other_settings_in_the_same_folder_are_one_line_and_exit_2(tmp_path, capsys, resume):
    """A rerun into a generate folder is refused without --resume, and --resume with
    other settings names them; the folder is left byte-identical."""
    _generate(tmp_path, "g")
    before = {p.name: p.read_bytes() for p in (tmp_path / "g").iterdir()}
    argv = ["generate", "--model", "tiny-neox", "--out", str(tmp_path / "g"), "--limit", "6"]
    code = main([*argv, "--max-new-tokens", "8", "--temperature", "0.5"] + ["--resume"] * resume)
    err = capsys.readouterr().err.strip().splitlines()[-1]
    expected = "different configuration (temperature)" if resume else "pass --resume"
    assert code == 2 and expected in err and "Traceback" not in err
    assert {p.name: p.read_bytes() for p in (tmp_path / "g").iterdir()} == before


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--prompts", "nowhere.jsonl"], "prompts file not found"),
        (["--top-p", "0"], "--top-p"),
        (["--batch-size", "0"], "--batch-size"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_2(tmp_path, capsys, argv, message):
    code = main(["generate", "--model", "tiny-neox", "--out", str(tmp_path / "g"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err


def test_prompts_from_a_preference_file_and_a_text_file(tmp_path, capsys):
    (tmp_path / "p.jsonl").write_text(
        json.dumps({"prompt": "\n\nHuman: hi\n\nAssistant:", "chosen": " a", "rejected": " b"})
        + "\n{bad\n"
    )
    (tmp_path / "p.txt").write_text("\\n\\nHuman: hi\\n\\nAssistant:\n")
    _, from_jsonl, _ = _generate(tmp_path, "j", "--prompts", str(tmp_path / "p.jsonl"))
    _, from_text, _ = _generate(tmp_path, "t", "--prompts", str(tmp_path / "p.txt"))
    assert (
        [r["prompt"] for r in from_jsonl]
        == [r["prompt"] for r in from_text]
        == ["\n\nHuman: hi\n\nAssistant:"]
    )


def test_a_response_counts_its_tokens_through_its_first_eos_only():
    """EOS accounting: EOS = 0; the EOS is counted, what follows it is padding."""
    import torch

    from llm_validation.alignment.generate import response_lengths

    new = torch.tensor([[5, 6, 0, 7, 0], [5, 6, 7, 8, 9], [0, 0, 0, 0, 0], [5, 0, 0, 0, 0]])
    assert response_lengths(new, eos=0).tolist() == [3, 5, 1, 2]
