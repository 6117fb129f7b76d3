"""Pairwise judges behind one registry: `--judge NAME[:ARGUMENT]`.

A judge answers, for a prompt x and two responses shown in a fixed order, which slot is better:
`first`, `second`, `tie` or `invalid` (an answer it could not read). Registered kinds (`JUDGES`):

| `--judge`                | compares                                                              |
|--------------------------|-----------------------------------------------------------------------|
| `synthetic`              | the built-in task's ground-truth reward r(x, y) (`synthetic.reward`)  |
| `reward:module:function` | a user's callable function(prompt, response) -> float                 |
| `rm:PATH`                | a local HF sequence-classification model's score of x + y (logit 0)   |
| `openai:BASE_URL`        | an OpenAI-compatible chat-completions endpoint, asked the pair        |

Score judges prefer the higher score (equal scores tie); they see no order, so they have no
position bias. The chat judge (`ChatJudge`) asks an LLM with a pairwise prompt in the format of
DPO's HH evaluation (Rafailov et al. 2023, App. C.2: a one-sentence comparison, then "More
helpful: A" or "B"); the paper (Ren & Sutherland 2025, Sec. 4.3) judges its HH responses pairwise
with GPT-3.5-Turbo and Claude-3-Haiku. It uses the standard library only (urllib): a timeout per
request, retries with exponential backoff on timeouts, connection errors, HTTP 429 and 5xx, and a
minimum interval between requests. An answer that arrives but cannot be parsed is `invalid`; a
request that still fails after every retry is reported as failed (`Verdict.failed`), never raised.
HTTP 401/403/404 are a user's mistake (key, model, URL): one-line `UserError`.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path

from common.errors import UserError

FIRST, SECOND, TIE, INVALID = "first", "second", "tie", "invalid"


@dataclass(frozen=True)
class Verdict:
    """One judgment: the slot chosen, the judge's raw answer, the HTTP attempts it took (0 for
    local judges) and whether the request failed outright (nothing to cache)."""

    choice: str
    raw: str
    attempts: int = 0
    failed: bool = False


@dataclass(frozen=True)
class ChatSettings:
    """How the chat judge talks to its endpoint."""

    model: str = "gpt-3.5-turbo"  # the paper's judge
    timeout: float = 30.0  # seconds per request
    retries: int = 4  # extra attempts after the first
    backoff: float = 1.0  # seconds before the first retry; doubles each retry
    requests_per_second: float = 2.0  # rate limit (minimum interval 1/rps between requests)
    api_key_env: str = "OPENAI_API_KEY"  # a local endpoint may need none


class ScoreJudge:
    """Prefer the response with the higher score s(x, y); equal scores tie."""

    def __init__(self, key: str, score: Callable[[str, str], float]):
        self.key, self._score = key, score

    def __call__(self, prompt: str, first: str, second: str) -> Verdict:
        s1, s2 = float(self._score(prompt, first)), float(self._score(prompt, second))
        choice = FIRST if s1 > s2 else SECOND if s2 > s1 else TIE
        return Verdict(choice, json.dumps([s1, s2]))


PROMPT = """For the following query to a chatbot, which response is more helpful?

Query: {prompt}

Response A:
{first}

Response B:
{second}

FIRST provide a one-sentence comparison of the two responses and explain which you feel is more \
helpful. SECOND, on a new line, state only "A" or "B" to indicate which response is more helpful. \
Your response should use the format:
Comparison: <one-sentence comparison and explanation>
More helpful: <"A" or "B">"""

_MORE_HELPFUL = re.compile(r"more helpful:\W*([AB])\b", re.IGNORECASE)
_BARE = re.compile(r"^\W*([AB])\W*$")


def parse_answer(text: str) -> str:
    """`first`/`second` from "More helpful: A/B" (the last such line) or a bare "A"/"B";
    anything else is `invalid`."""
    found = _MORE_HELPFUL.findall(text)
    letter = found[-1].upper() if found else None
    if letter is None:
        bare = _BARE.match(text.strip())
        letter = bare.group(1) if bare else None
    return {"A": FIRST, "B": SECOND}.get(letter, INVALID)


class ChatJudge:
    """An OpenAI-compatible `POST {base_url}/chat/completions`, temperature 0, one pair a call.

    `stats` counts requests sent, retries, answers that could not be parsed and failed pairs.
    """

    RETRYABLE_HTTP = (429, 500, 502, 503, 504)

    def __init__(
        self, base_url: str, settings: ChatSettings, sleep=time.sleep, clock=time.monotonic
    ):
        if not base_url.startswith(("http://", "https://")):
            raise UserError(f"--judge openai:BASE_URL needs an http(s) URL, got {base_url!r}")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.settings, self._sleep, self._clock = settings, sleep, clock
        self.key = f"openai:{base_url.rstrip('/')}|{settings.model}"
        self._api_key = os.environ.get(settings.api_key_env, "")
        self._last_request = -float("inf")
        self.stats = {"requests": 0, "retries": 0, "unparseable": 0, "failed": 0}

    def _request(self, prompt: str) -> str:
        """One POST → the message content; raises on HTTP/network errors."""
        body = {
            "model": self.settings.model,
            "temperature": 0,
            "max_tokens": 128,
            "messages": [{"role": "user", "content": prompt}],
        }
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        request = urllib.request.Request(self.url, json.dumps(body).encode(), headers)
        wait = self._last_request + 1.0 / self.settings.requests_per_second - self._clock()
        if wait > 0:
            self._sleep(wait)
        self._last_request = self._clock()
        self.stats["requests"] += 1
        with urllib.request.urlopen(request, timeout=self.settings.timeout) as response:
            payload = response.read()
        try:
            content = json.loads(payload)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            return payload.decode("utf-8", "replace")[:500]  # a body we cannot read: invalid
        return content if isinstance(content, str) else json.dumps(content)

    def __call__(self, prompt: str, first: str, second: str) -> Verdict:
        text = PROMPT.format(prompt=prompt.strip(), first=first.strip(), second=second.strip())
        error = ""
        for attempt in range(self.settings.retries + 1):
            if attempt:
                self.stats["retries"] += 1
                self._sleep(self.settings.backoff * 2 ** (attempt - 1))
            try:
                answer = self._request(text)
            except urllib.error.HTTPError as err:
                if err.code not in self.RETRYABLE_HTTP:
                    raise UserError(
                        f"judge endpoint {self.url} answered HTTP {err.code} "
                        f"({err.reason}); check the URL, --judge-model and "
                        f"${self.settings.api_key_env}"
                    ) from None
                error = f"HTTP {err.code}"
            except (urllib.error.URLError, TimeoutError, ConnectionError, HTTPException) as err:
                error = type(err).__name__ + ": " + str(getattr(err, "reason", err))
            else:
                choice = parse_answer(answer)
                self.stats["unparseable"] += choice == INVALID
                return Verdict(choice, answer, attempt + 1)
        self.stats["failed"] += 1
        return Verdict(INVALID, error, self.settings.retries + 1, failed=True)


def _synthetic(argument: str, settings: ChatSettings):
    from llm_validation.sources.synthetic import reward

    return ScoreJudge("synthetic", reward)


def _user_reward(argument: str, settings: ChatSettings):
    from llm_validation.training.onpolicy import load_reward

    if ":" not in argument:
        raise UserError("--judge reward: needs module:function, e.g. reward:mypkg.rm:score")
    return ScoreJudge(f"reward:{argument}", load_reward(argument, data=""))


def check_rm_path(argument: str) -> Path:
    """The folder of `rm:PATH`, which must hold a config.json (checked before loading)."""
    path = Path(argument).expanduser()
    if not (path / "config.json").is_file():
        raise UserError(f"--judge rm:PATH: no config.json in {argument!r}")
    return path


def _reward_model(argument: str, settings: ChatSettings):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = check_rm_path(argument)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(path, local_files_only=True).eval()

    @torch.no_grad()
    def score(prompt: str, response: str) -> float:
        ids = tokenizer(prompt + response, return_tensors="pt", truncation=True, max_length=1024)
        return float(model(**ids).logits[0, 0])

    return ScoreJudge(f"rm:{path.resolve()}", score)


def _chat(argument: str, settings: ChatSettings):
    return ChatJudge(argument, settings)


JUDGES = {"synthetic": _synthetic, "reward": _user_reward, "rm": _reward_model, "openai": _chat}


def judge_kind(spec: str) -> tuple[str, str]:
    """`NAME[:ARGUMENT]` → (name, argument), checked against `JUDGES`."""
    name, _, argument = spec.partition(":")
    if name not in JUDGES:
        raise UserError(
            f"unknown judge {spec!r}; use synthetic, reward:module:function, rm:PATH "
            "or openai:BASE_URL"
        )
    if name != "synthetic" and not argument:
        raise UserError(f"--judge {name}: needs an argument ({name}:…)")
    return name, argument


def load_judge(spec: str, settings: ChatSettings = ChatSettings()):
    """The judge for `--judge spec`: a callable (prompt, first, second) -> Verdict with `.key`."""
    name, argument = judge_kind(spec)
    return JUDGES[name](argument, settings)
