"""The paper's HH probe files, fetched once from the authors' release and then found by name.

`python -m llm_validation data hh-probes` downloads the two probe files of the paper's
Anthropic-HH experiments from the authors' repository at a fixed commit, checks each against its
SHA-256 and stores it in the user cache (`cache_root()/data`, `LEARNING_DYNAMICS_CACHE` moves
it). `--data` / `--probes` `hh-train` and `hh-test` (and the presets) then resolve to those files;
`hh-train` falls back to ../shared/data/hh_probe_train.jsonl (byte-identical) where that exists.
Nothing downloads anywhere else.
"""

from __future__ import annotations

import hashlib
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from common.errors import UserError
from llm_validation.sources.smollm2 import cache_root

RELEASE = (
    "https://raw.githubusercontent.com/Joshua-Ren/Learning_dynamics_LLM/"
    "08e3bd25cb7debcf263244046a697e355715bbd9"
)
FETCH = "python -m llm_validation data hh-probes"


@dataclass(frozen=True)
class ProbeFile:
    """One file of the release: where it lives there, its SHA-256, its name in the cache and
    its copy in ../shared, if any."""

    remote: str
    sha256: str
    local: str
    shared: str | None = None


FILES = {
    "hh-train": ProbeFile(
        "src/data/helpful-base/formal_prob_train.jsonl",
        "fc536d7b7d01e6849678201eed46f3df1caf250309bb8ff23cc201e651e0bfb3",
        "hh_probe_train.jsonl",
        "../shared/data/hh_probe_train.jsonl",
    ),
    "hh-test": ProbeFile(
        "src/data/helpful-base/formal_prob_test.jsonl",
        "a69320dfda0fe41918be9eafec956d4818029a97cbd89d5aafe2b14bc1318e55",
        "hh_probe_test.jsonl",
    ),
}


def data_dir() -> Path:
    return cache_root() / "data"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def resolve(spec: str) -> str:
    """`hh-train` / `hh-test` → the cached file (`hh-train`: else ../shared's copy); any other
    spec unchanged; a name with no file is a UserError saying what to run."""
    if spec not in FILES:
        return spec
    entry = FILES[spec]
    cached = data_dir() / entry.local
    if cached.is_file():
        return str(cached)
    if entry.shared and Path(entry.shared).is_file():
        return entry.shared
    raise UserError(f"{spec}: the HH probe files are not here yet; run `{FETCH}` (needs a network)")


def fetch(
    base_url: str = RELEASE, files: dict[str, ProbeFile] = FILES, folder: Path | None = None
) -> list[str]:
    """Download each file of `files` from `base_url`, check its SHA-256, store it in `folder`
    (default `data_dir()`); a file already there with the right sum is kept. Returns one line
    per file; a download or checksum failure is a UserError naming the file (files checked
    before it stay stored, a file that fails is never stored)."""
    folder = folder or data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for name, entry in files.items():
        dest = folder / entry.local
        if dest.is_file() and sha256(dest) == entry.sha256:
            lines.append(f"{name}: {dest} (already there, SHA-256 checked)")
            continue
        url = f"{base_url.rstrip('/')}/{entry.remote}"
        part = dest.with_name(dest.name + ".part")
        try:
            with urllib.request.urlopen(url, timeout=60) as response, part.open("wb") as out:
                shutil.copyfileobj(response, out)
        except (urllib.error.URLError, OSError) as err:
            part.unlink(missing_ok=True)
            raise UserError(f"{name}: cannot download {url} ({err})") from None
        got = sha256(part)
        if got != entry.sha256:
            part.unlink()
            raise UserError(
                f"{name}: {url} has SHA-256 {got}, expected {entry.sha256}: not the authors' "
                "file, not stored"
            )
        part.replace(dest)
        lines.append(f"{name}: {dest} (SHA-256 checked)")
    return lines
