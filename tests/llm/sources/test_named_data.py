"""Real data without ../shared: `data hh-probes` fetches the paper's HH probe files (here from a
local HTTP server), checks their SHA-256 and caches them for `hh-train` / `hh-test`;
`hub:NAME[:SPLIT]` reads a hub dataset through the datasets cache (here one made in the test)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from common.errors import UserError
from llm_validation.cli import main
from llm_validation.sources import hh
from llm_validation.sources.data import load_examples

ROOT = Path(__file__).resolve().parents[3]
SHARED_TRAIN = ROOT.parent / "shared" / "data" / "hh_probe_train.jsonl"
needs_shared = pytest.mark.skipif(not SHARED_TRAIN.is_file(), reason="../shared is absent")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty user cache, and a working folder without ../shared."""
    monkeypatch.setenv("LEARNING_DYNAMICS_CACHE", str(tmp_path / "cache"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return tmp_path / "cache" / "data"


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no request lines on stderr
        pass


@pytest.fixture
def release(tmp_path):
    """A local mirror of the release on 127.0.0.1 serving ../shared's train file at both paths
    (../shared has no test file): its URL."""
    root = tmp_path / "mirror"
    for entry in hh.FILES.values():
        (root / entry.remote).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SHARED_TRAIN, root / entry.remote)
    handler = functools.partial(Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@needs_shared
def test_the_release_train_file_is_shareds_byte_for_byte():
    assert hashlib.sha256(SHARED_TRAIN.read_bytes()).hexdigest() == hh.FILES["hh-train"].sha256


@needs_shared
def test_fetch_stores_the_checked_train_file_and_refuses_a_test_file_with_the_wrong_sum(
    cache, release, capsys
):
    assert main(["data", "hh-probes", "--base-url", release]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "hh-test" in err and "expected a69320df" in err
    assert (cache / "hh_probe_train.jsonl").read_bytes() == SHARED_TRAIN.read_bytes()
    assert not (cache / "hh_probe_test.jsonl").exists()  # a file that fails is never stored
    assert list(cache.iterdir()) == [cache / "hh_probe_train.jsonl"]  # no .part left
    examples, _ = load_examples("hh-train", limit=3)
    assert len(examples) == 3 and examples[0].source.startswith(str(cache))


@needs_shared
def test_fetch_under_a_test_only_sum_stores_both_and_keeps_them_on_a_rerun(cache, release):
    files = dict(
        hh.FILES, **{"hh-test": replace(hh.FILES["hh-test"], sha256=hh.sha256(SHARED_TRAIN))}
    )
    assert [line.split(":")[0] for line in hh.fetch(release, files)] == ["hh-train", "hh-test"]
    assert all("already there" in line for line in hh.fetch("http://127.0.0.1:9", files))
    assert hh.resolve("hh-test") == str(cache / "hh_probe_test.jsonl")


def test_an_unreachable_mirror_is_one_line_naming_the_file(cache):
    with pytest.raises(UserError, match="hh-train: cannot download http://127.0.0.1:9/"):
        hh.fetch("http://127.0.0.1:9")


def test_without_cache_or_shared_the_name_says_what_to_run(cache):
    with pytest.raises(UserError, match="run `python -m llm_validation data hh-probes`"):
        load_examples("hh-train")


@needs_shared
def test_hh_train_falls_back_to_shared_from_the_repository_root(cache, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert hh.resolve("hh-train") == "../shared/data/hh_probe_train.jsonl"


def test_every_preset_names_data_by_name_not_by_a_shared_path():
    from llm_validation.presets import PRESETS

    for preset in PRESETS.values():
        assert "shared" not in str(preset.values().get("data", ""))


# -- hub:NAME[:SPLIT] ---------------------------------------------------------------------------
ROWS = [{"prompt": f"Q{i}:", "chosen": f" yes {i}", "rejected": f" no {i}"} for i in range(3)]


def cached_hub_dataset(datasets_cache: Path, repo: str) -> None:
    """Put `ROWS` into a datasets cache as the prepared dataset `repo` (namespace/name), the
    layout `load_dataset(repo)` reads offline: <cache>/<ns>___<name>/default/0.0.0/<hash>/."""
    from datasets.packaged_modules.json.json import Json

    source = datasets_cache.parent / "rows.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    namespace, name = repo.split("/")
    builder = Json(
        dataset_name=name,
        cache_dir=str(datasets_cache),
        data_files={"train": str(source)},
        hash="0123abcd",  # the revision level of the layout (a hub commit hash, normally)
    )
    builder.download_and_prepare()
    [config] = [p for p in (datasets_cache / name).iterdir() if p.is_dir()]
    config.rename(datasets_cache / name / "default")
    (datasets_cache / name).rename(datasets_cache / f"{namespace}___{name}")


def offline_cli(args: list[str], datasets_cache: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HF_DATASETS_CACHE": str(datasets_cache),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "llm_validation", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_hub_data_is_read_from_the_datasets_cache_offline(tmp_path):
    pytest.importorskip("datasets")
    cached_hub_dataset(tmp_path / "datasets", "someone/tiny-prefs")
    done = offline_cli(
        ["logprobs", "--model", "tiny-neox", "--probes", "hub:someone/tiny-prefs:train", "--json"],
        tmp_path / "datasets",
    )
    assert done.returncode == 0, done.stderr
    assert set(json.loads(done.stdout)) >= {"chosen", "rejected", "y_star"}
    assert "read 3 lines, kept 3 examples" in done.stderr


def test_hub_data_neither_cached_nor_reachable_is_one_line_saying_what_to_run(tmp_path):
    pytest.importorskip("datasets")
    done = offline_cli(
        ["logprobs", "--model", "tiny-neox", "--probes", "hub:nobody/nothing"], tmp_path / "d"
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "where there is a network run" in done.stderr
    assert "load_dataset('nobody/nothing', split='train')" in done.stderr
