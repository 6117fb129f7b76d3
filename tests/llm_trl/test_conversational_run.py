"""Conversational (message-list) data through `run`: rendered with `--model`'s chat template
before the model loads, as trl renders it; a model whose tokenizer has none is a one-line error."""

import json

from llm_validation.cli import main
from llm_validation.sources.models import load_model
from llm_validation.sources.synthetic import generate

TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)


def conversational_file(tmp_path):
    path = tmp_path / "conv.jsonl"
    rows = []
    for ex in generate(4, seed=5):
        prompt = [{"role": "user", "content": ex.prompt}]
        rows.append(
            {
                "prompt": prompt,
                "chosen": [{"role": "assistant", "content": ex.chosen}],
                "rejected": [{"role": "assistant", "content": ex.rejected}],
            }
        )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_run_renders_conversational_rows_with_the_models_chat_template(tmp_path):
    model, tokenizer = load_model("tiny-neox")
    tokenizer.chat_template = TEMPLATE
    folder = tmp_path / "model"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    out = tmp_path / "run"
    argv = [
        "run",
        "--method",
        "dpo",
        "--model",
        str(folder),
        "--data",
        str(conversational_file(tmp_path)),
        "--steps",
        "1",
        "--eval-every",
        "1",
        "--no-checkpoint",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["inputs"]["data"]["kept"] == 4 and summary["inputs"]["data"]["problems"] == []


def test_conversational_rows_need_a_chat_template(tmp_path, capsys):
    argv = [
        "run",
        "--model",
        "tiny-neox",
        "--data",
        str(conversational_file(tmp_path)),
        "--steps",
        "1",
        "--out",
        str(tmp_path / "run"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "needs a chat template" in err and "tiny-neox" in err


def test_sft_trains_on_trls_messages_rows_their_last_assistant_turn_as_y_plus(tmp_path, capsys):
    """trl's SFT format ({"messages": [...]}, no y⁻) is `run --method sft` data and its probes;
    a preference method refuses it, naming the missing field."""
    model, tokenizer = load_model("tiny-neox")
    tokenizer.chat_template = TEMPLATE
    folder = tmp_path / "model"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    data = tmp_path / "messages.jsonl"
    rows = [
        {
            "messages": [
                {"role": "user", "content": ex.prompt},
                {"role": "assistant", "content": ex.chosen},
            ]
        }
        for ex in generate(4, seed=6)
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    argv = ["run", "--model", str(folder), "--data", str(data), "--steps", "1"]
    argv += ["--eval-every", "1", "--no-checkpoint"]
    assert main([*argv, "--method", "sft", "--out", str(tmp_path / "sft")]) == 0
    summary = json.loads((tmp_path / "sft" / "summary.json").read_text())
    assert summary["inputs"]["data"]["kept"] == 4
    assert main([*argv, "--method", "dpo", "--strict", "--out", str(tmp_path / "dpo")]) == 2
    assert "missing field 'rejected'" in capsys.readouterr().err
