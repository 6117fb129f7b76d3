"""`python -m llm_validation winrate`: judges, both orders, the cache, and a misbehaving endpoint."""

import csv
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from llm_validation.alignment.judges import FIRST, INVALID, SECOND, parse_answer
from llm_validation.cli import main
from llm_validation.sources.synthetic import generate, make_prompt

TIMEOUT = 0.3  # seconds; the stub's slow answer takes 3× as long


def _write(path, pairs):
    path.write_text("".join(json.dumps({"prompt": p, "response": r}) + "\n" for p, r in pairs))
    return str(path)


@pytest.fixture
def good_and_bad(tmp_path):
    """Five synthetic prompts: A answers `good …`, B answers `bad …`."""
    prompts = [ex.prompt for ex in generate(5, seed=11)]
    a = _write(tmp_path / "a.jsonl", [(p, f" good answer {i}") for i, p in enumerate(prompts)])
    b = _write(tmp_path / "b.jsonl", [(p, f" bad answer {i}") for i, p in enumerate(prompts)])
    return a, b


class StubServer:
    """An OpenAI-compatible chat endpoint on 127.0.0.1 (a free port) that prefers the response
    containing `good`, after a script of misbehaviours by request number (1-based)."""

    def __init__(self, script: dict[int, str]):
        self.script, self.requests = script, 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.requests += 1
                action = stub.script.get(stub.requests, "answer")
                if action in ("500", "401"):
                    self.send_error(int(action))
                    return
                if action == "delay":
                    time.sleep(3 * TIMEOUT)
                text = body["messages"][0]["content"]
                a_text = text.split("Response A:")[1].split("Response B:")[0]
                answer = {
                    "garbage": "I cannot decide, both are lovely.",
                    "formatted": "Comparison: one is better.\nMore helpful: "
                    + ("A" if "good" in a_text else "B"),
                }.get(action)
                answer = answer or ("A" if "good" in a_text else "B")
                payload = json.dumps({"choices": [{"message": {"content": answer}}]}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and left

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _winrate(capsys, a, b, judge, out, *extra):
    code = main(
        [
            "winrate",
            "--a",
            a,
            "--b",
            b,
            "--judge",
            judge,
            "--out",
            str(out),
            "--json",
            "--timeout",
            str(TIMEOUT),
            "--backoff",
            "0",
            "--requests-per-second",
            "1000",
            *extra,
        ]
    )
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if code == 0 else captured.err)


def test_openai_judge_survives_500_timeout_and_garbage_and_a_rerun_asks_nothing(
    tmp_path, capsys, good_and_bad
):
    """A stub endpoint answers A/B, once garbage, once HTTP 500 and once
    too late; the run finishes with 2 retries and 1 invalid judgment, and a rerun is all cache."""
    a, b = good_and_bad
    # Judgment k (1-based) is prompt ⌈k/2⌉, A first when k is odd. Request 2 (prompt 0, B first)
    # fails with 500 and is retried as request 3; request 4 (prompt 1, A first) is garbage;
    # request 5 (prompt 1, B first) times out and is retried as request 6.
    server = StubServer({2: "500", 4: "garbage", 5: "delay", 8: "formatted"})
    try:
        code, summary = _winrate(capsys, a, b, f"openai:{server.url}", tmp_path / "w")
        assert code == 0
        assert server.requests == 12  # 10 judgments + 2 retries
        assert (summary["retries"], summary["invalid"], summary["unparseable"]) == (2, 1, 1)
        assert (summary["failed"], summary["asked"], summary["n"]) == (0, 10, 5)
        # A (`good`) wins every valid judgment; prompt 1 is decided by its B-first order alone.
        assert (summary["win_rate"], summary["wins"], summary["ties"]) == (1.0, 5, 0)
        # 9 decided judgments; the first slot won in the 4 valid A-first orders.
        assert summary["first_position_rate"] == pytest.approx(4 / 9)
        assert summary["ci_low"] < 1.0 == summary["ci_high"]

        before = server.requests
        code, again = _winrate(capsys, a, b, f"openai:{server.url}", tmp_path / "w", "--resume")
        assert code == 0
        assert server.requests == before  # the cache answered everything
        assert (again["asked"], again["cached"]) == (0, 10)
        assert {k: again[k] for k in ("win_rate", "ci_low", "ci_high", "invalid", "n")} == {
            k: summary[k] for k in ("win_rate", "ci_low", "ci_high", "invalid", "n")
        }
    finally:
        server.close()
    with (tmp_path / "w" / "winrate.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["a_first_winner"] + r["b_first_winner"] for r in rows] == [
        "AA",
        "invalidA",
        "AA",
        "AA",
        "AA",
    ]


def test_a_request_failing_every_retry_is_reported_not_cached_and_asked_again(
    tmp_path, capsys, good_and_bad
):
    """Never a lost judgment: a pair the endpoint never answered is `failed` (and invalid); a
    run that judged nothing is one line and exit 2, not a 0.500 win rate, and the next
    run (--resume) asks for it again."""
    a, b = good_and_bad
    server = StubServer({k: "500" for k in range(1, 100)})
    flags = ("--retries", "1", "--limit", "2")
    try:
        code, err = _winrate(capsys, a, b, f"openai:{server.url}", tmp_path / "w", *flags)
        assert code == 2 and "judged none of 2 prompts (invalid 4, failed 4)" in err
        assert server.requests == 8  # 4 judgments × (1 try + 1 retry)
        assert not (tmp_path / "w" / "summary.json").exists()
        _winrate(capsys, a, b, f"openai:{server.url}", tmp_path / "w", *flags, "--resume")
        assert server.requests == 16
    finally:
        server.close()


def test_an_unauthorised_endpoint_is_one_line_and_exit_2(tmp_path, capsys, good_and_bad):
    a, b = good_and_bad
    server = StubServer({1: "401"})
    try:
        code, err = _winrate(capsys, a, b, f"openai:{server.url}", tmp_path / "w")
    finally:
        server.close()
    assert code == 2
    errors = [line for line in err.splitlines() if "error" in line]  # besides the progress bar
    assert len(errors) == 1 and "HTTP 401" in errors[0] and "Traceback" not in err


def test_synthetic_judge_prefers_the_correct_answer_in_both_orders(tmp_path, capsys):
    """Ground truth: y⁺ (reward 1) beats y⁻ (reward < 1) on every prompt, so p̂ = 1 with Wilson's
    [n/(n + z²), 1] and no position preference."""
    examples = generate(8, seed=5)
    a = _write(tmp_path / "a.jsonl", [(ex.prompt, ex.chosen) for ex in examples])
    b = _write(tmp_path / "b.jsonl", [(ex.prompt, ex.rejected) for ex in examples])
    code, summary = _winrate(capsys, a, b, "synthetic", tmp_path / "w")
    assert code == 0
    assert (summary["win_rate"], summary["n"], summary["first_position_rate"]) == (1.0, 8, 0.5)
    assert summary["ci_low"] == pytest.approx(8 / (8 + 1.959963984540054**2))  # Wilson at p̂=1
    code, swapped = _winrate(capsys, b, a, "synthetic", tmp_path / "w2")
    assert swapped["win_rate"] == 0.0


def test_user_reward_judge_and_long_responses_are_skipped(tmp_path, capsys, monkeypatch):
    """`reward:module:function` scores (prompt, response); pairs over --max-chars are skipped."""
    (tmp_path / "my_reward.py").write_text(
        "def score(prompt, response):\n    return -len(response)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    prompts = [make_prompt("repeat", ["red", "cat", "dog"]), make_prompt("sort", ["a", "b", "c"])]
    a = _write(tmp_path / "a.jsonl", [(prompts[0], " short"), (prompts[1], " x" * 50)])
    b = _write(tmp_path / "b.jsonl", [(prompts[0], " much longer"), (prompts[1], " y")])
    code, summary = _winrate(
        capsys, a, b, "reward:my_reward:score", tmp_path / "w", "--max-chars", "40"
    )
    assert code == 0
    assert (summary["n"], summary["skipped_long"], summary["win_rate"]) == (1, 1, 1.0)


def test_reward_model_judge_scores_with_a_local_sequence_classifier(tmp_path, capsys):
    """`rm:PATH`: a tiny GPT-NeoX sequence classifier saved to disk; its own scores decide."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from llm_validation.sources.tiny import CONFIG, build_tokenizer

    tokenizer = build_tokenizer()
    torch.manual_seed(0)
    config = transformers.GPTNeoXConfig(
        vocab_size=len(tokenizer), num_labels=1, pad_token_id=tokenizer.eos_token_id, **CONFIG
    )
    model = transformers.GPTNeoXForSequenceClassification(config).eval()
    model.save_pretrained(tmp_path / "rm")
    tokenizer.save_pretrained(tmp_path / "rm")
    examples = generate(4, seed=2)
    a = _write(tmp_path / "a.jsonl", [(ex.prompt, ex.chosen) for ex in examples])
    b = _write(tmp_path / "b.jsonl", [(ex.prompt, ex.rejected) for ex in examples])
    code, summary = _winrate(capsys, a, b, f"rm:{tmp_path / 'rm'}", tmp_path / "w")
    assert code == 0
    with torch.no_grad():

        def s(text):
            return float(model(**tokenizer(text, return_tensors="pt")).logits[0, 0])

        wins = sum(s(ex.prompt + ex.chosen) > s(ex.prompt + ex.rejected) for ex in examples)
    assert summary["wins"] == wins and summary["n"] == 4


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--a", "missing.jsonl", "--b", "missing.jsonl"], "responses file not found"),
        (["--judge", "gpt4"], "unknown judge"),
        (["--judge", "rm:/nowhere"], "no config.json"),
        (["--judge", "openai:localhost:1"], "http(s) URL"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_2(tmp_path, capsys, good_and_bad, argv, message):
    a, b = good_and_bad
    args = ["winrate", "--a", a, "--b", b, "--out", str(tmp_path / "w"), *argv]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_parse_answer_reads_the_protocols_last_line_or_a_bare_letter():
    assert parse_answer("Comparison: B rambles.\nMore helpful: A") == FIRST
    assert parse_answer(' "B". ') == SECOND
    assert parse_answer("More helpful: C") == INVALID
    assert parse_answer("A or B, hard to say") == INVALID
