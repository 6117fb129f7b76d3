"""Data in the ecosystem's formats: files and folders as JSON lines for `data.parse_lines`, and
trl's conversational records rendered to its standard format.

`--data` / `--probes` (and the callback's probes) may be, besides JSONL:

- a local Hugging Face `datasets` folder written by `save_to_disk` (a Dataset, or a DatasetDict:
  its `train` split, else its only split);
- a parquet file (`.parquet`);
- a JSON file (`.json`): an array of objects, or one object a line;
- `hub:NAME[:SPLIT]`: a dataset of the Hugging Face hub by name (split default `train`), through
  `datasets.load_dataset` and its cache (offline: the cache only).

Records are in trl's standard format (`prompt`, `chosen`, `rejected` as strings; the paper's
probe fields too) or its conversational format, where `prompt` is a list of messages
`{"role", "content"}` and each response a list of (assistant) messages. A conversational record
is rendered as trl renders it (`trl.data_utils.apply_chat_template`):

    x = template(prompt, add_generation_prompt=True)
    y = template(prompt + response)[len(x):]            (the response's rendered tail)

with `template` the tokenizer's chat template, so the prompt/response boundary sits where trl
puts it. Without a chat template, a conversational record is one line of error that says so.

trl's prompt-less formats get their prompt first (`explicit_prompt`): a language-modelling record
`{"messages": [...]}` (trl's SFT format) takes its last assistant turn as y⁺ (`chosen`) and the
turns before it as the prompt; an implicit-prompt preference record (`chosen` and `rejected`
that both start with the prompt) takes their common prefix as the prompt, as
`trl.data_utils.extract_prompt` does.

Every record then goes through the same validation as a JSONL line (`data.parse_lines`, which
calls `to_standard` on each), so the messages and the strict / skip rules are the same:
`file:row: what`.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable, Iterator
from pathlib import Path

from common.errors import UserError
from common.probes import PROBE_TYPES

Template = Callable[..., str]  # tokenizer.apply_chat_template(messages, tokenize=False, ...)
READERS: dict[str, Callable[[Path], Iterator[object]]] = {}


def reader(*suffixes: str):
    """Register a record reader for files ending in `suffixes` (or "" for folders)."""

    def add(fn):
        READERS.update(dict.fromkeys(suffixes, fn))
        return fn

    return add


@reader("")
def _saved_dataset(path: Path) -> Iterator[object]:
    """Rows of a `save_to_disk` folder: a Dataset, or a DatasetDict's `train` (or only) split."""
    try:
        from datasets import DatasetDict, load_from_disk
    except ImportError:
        raise UserError(f"{path}: reading a datasets folder needs `pip install datasets`") from None
    try:
        data = load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as err:
        raise UserError(f"{path}: not a datasets save_to_disk folder ({err})") from None
    if isinstance(data, DatasetDict):
        if "train" not in data and len(data) != 1:
            raise UserError(f"{path}: no `train` split among {', '.join(data)}")
        data = data["train"] if "train" in data else next(iter(data.values()))
    yield from data


@reader(".parquet")
def _parquet(path: Path) -> Iterator[object]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UserError(f"{path}: reading parquet needs `pip install pyarrow`") from None
    try:
        table = pq.read_table(path)
    except Exception as err:  # pyarrow raises its own ArrowInvalid for a malformed file
        raise UserError(f"{path}: not a readable parquet file ({err})") from None
    yield from table.to_pylist()


@reader(".json")
def _json(path: Path) -> Iterator[object]:
    """A JSON array of objects, or (as `datasets` also accepts) one object a line."""
    text = path.read_bytes().removeprefix(codecs.BOM_UTF8)  # a BOM loads as in .jsonl
    if text.lstrip().startswith(b"["):
        try:
            yield from json.loads(text)
        except json.JSONDecodeError as err:
            raise UserError(f"{path}: malformed JSON ({err.msg}, line {err.lineno})") from None
        return
    yield from text.splitlines()  # validated line by line, as JSONL


HUB = "hub:"


def hub_records(spec: str) -> Iterator[object]:
    """Rows of `hub:NAME[:SPLIT]` (split default `train`) through `datasets.load_dataset`, with
    its cache and offline mode (HF_DATASETS_OFFLINE / HF_HUB_OFFLINE); a name that is neither
    cached nor reachable is one line saying what to run where there is a network."""
    name, _, split = spec[len(HUB) :].partition(":")
    split = split or "train"
    try:
        from datasets import load_dataset
    except ImportError:
        raise UserError(f"{spec}: reading a hub dataset needs `pip install datasets`") from None
    try:
        data = load_dataset(name, split=split)
    except (ConnectionError, FileNotFoundError) as err:
        where = f"import datasets; datasets.load_dataset({name!r}, split={split!r})"
        raise UserError(
            f"{spec}: not in the datasets cache and the hub is out of reach "
            f'({" ".join(str(err).split())}); where there is a network run `python -c "{where}"` '
            "(it fills the cache this run reads)"
        ) from None
    except ValueError as err:  # an unknown split, a malformed name
        raise UserError(f"{spec}: {' '.join(str(err).split())}") from None
    yield from data


def is_conversational(record: object) -> bool:
    """trl's test: a record whose prompt (or a response) is a list of messages."""
    return isinstance(record, dict) and any(
        isinstance(record.get(k), list) for k in ("prompt", *PROBE_TYPES)
    )


def _messages(value, name: str) -> list[dict]:
    ok = (
        isinstance(value, list)
        and value
        and all(
            isinstance(m, dict)
            and isinstance(m.get("role"), str)
            and isinstance(m.get("content"), str)
            for m in value
        )
    )
    if not ok:
        raise ValueError(f"{name!r} is not a non-empty list of {{role, content}} messages")
    return value


def render(record: dict, template: Template) -> dict:
    """A conversational record → trl's standard format (strings), rendered with `template`."""
    prompt = _messages(record.get("prompt"), "prompt")
    x = template(prompt, tokenize=False, add_generation_prompt=True)
    out = {"prompt": x}
    for name in PROBE_TYPES:
        if name not in record:
            continue
        full = template(prompt + _messages(record[name], name), tokenize=False)
        if not full.startswith(x):
            raise ValueError(f"the chat template renders {name!r} without the prompt as prefix")
        out[name] = full[len(x) :]
    return out


def common_prefix(chosen, rejected) -> int:
    """The length of the prompt trl's `extract_prompt` finds in an implicit-prompt pair: the
    longest common prefix of `chosen` and `rejected` (characters, or messages), a space just
    before the first difference left to the responses (as trl, including its stop one short
    when one response is a prefix of the other)."""
    index = 0
    for index in range(min(len(chosen), len(rejected))):
        if chosen[index] != rejected[index]:
            if chosen[index - 1] == " ":
                index -= 1
            break
    return index


def explicit_prompt(record: object) -> object:
    """trl's prompt-less records with an explicit `prompt`: a language-modelling record
    `{"messages": [...]}` → the turns before the last assistant turn as the prompt, that turn
    as `chosen` (y⁺); an implicit-prompt pair `{"chosen", "rejected"}` (strings or message lists
    with the prompt in both) → the common prefix as the prompt (`common_prefix`)."""
    if not isinstance(record, dict) or "prompt" in record:
        return record
    messages = record.get("messages")
    if isinstance(messages, list):
        roles = [m.get("role") if isinstance(m, dict) else None for m in messages]
        if "assistant" not in roles:
            raise ValueError("'messages' has no assistant turn to take as y⁺")
        last = len(roles) - 1 - roles[::-1].index("assistant")
        rest = {k: v for k, v in record.items() if k != "messages"}
        return {**rest, "prompt": messages[:last], "chosen": messages[last : last + 1]}
    chosen, rejected = record.get("chosen"), record.get("rejected")
    if isinstance(chosen, (str, list)) and type(chosen) is type(rejected):
        n = common_prefix(chosen, rejected)
        return {**record, "prompt": chosen[:n], "chosen": chosen[n:], "rejected": rejected[n:]}
    return record


NO_TEMPLATE = (
    "!conversational (message-list) record and no chat template to render it: no tokenizer was "
    "given (callback: pass tokenizer=)"
)


def to_standard(record: object, template: Template | None) -> tuple[object, list[str]]:
    """(record in the standard format, problems): prompt-less records given their prompt
    (`explicit_prompt`), conversational records rendered with `template`; a problem (starting
    with '!', fatal for the record) when that cannot be done."""
    try:
        record = explicit_prompt(record)
    except ValueError as err:
        return record, [f"!{err}"]
    if not is_conversational(record):
        return record, []
    if template is None:
        return record, [NO_TEMPLATE]
    try:
        return render(record, template), []
    except ValueError as err:
        return record, [f"!{err}"]


def lines(path: Path | str) -> Iterator[str | bytes] | None:
    """The records of `path` (or `hub:NAME[:SPLIT]`) as JSON lines, or None when `path` is JSONL
    (read as it is)."""
    if isinstance(path, str) and path.startswith(HUB):
        records = hub_records(path)
    else:
        path = Path(path)
        suffix = "" if path.is_dir() else path.suffix.lower()
        if suffix not in READERS:
            return None
        records = READERS[suffix](path)
    return (r if isinstance(r, (str, bytes)) else json.dumps(r, default=str) for r in records)
