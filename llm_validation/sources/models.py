"""Model loading: `--model` is an embedded name, a local folder, or a hub name already cached.

Embedded names (`EMBEDDED`): `smollm2` (the default; SmolLM2-135M-Instruct, a 4-bit GGUF release
de-quantised to fp32, see `smollm2.py`), `tiny-neox` and `tiny-llama` (random-init, see `tiny.py`).
Everything loads with `local_files_only=True` (nothing is ever downloaded) and SDPA attention
(the eNTK's `torch.func.jvp`, which has no rule for SDPA, switches to eager itself:
`entk.eager_attention`).
"""

from __future__ import annotations

from pathlib import Path

import torch

from common.errors import UserError


def _pretrained(path: str | Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = dict(local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(
        path, attn_implementation="sdpa", dtype=torch.float32, **kwargs
    )
    return model, tokenizer


def load_tokenizer(spec: str):
    """Only the tokenizer of `spec` (no weights): cheap, for rendering data before a model loads."""
    from transformers import AutoTokenizer

    if spec in ("tiny-neox", "tiny-llama"):
        from llm_validation.sources.tiny import build_tokenizer

        return build_tokenizer()
    if spec == "smollm2":
        from llm_validation.sources.smollm2 import smollm2_dir

        spec = str(smollm2_dir())
    path = Path(spec).expanduser()
    if _looks_like_path(spec) and not (path / "config.json").is_file():
        raise UserError(f"model path not found (no config.json): {spec}")
    try:
        return AutoTokenizer.from_pretrained(
            path if _looks_like_path(spec) else spec, local_files_only=True
        )
    except OSError as err:
        raise UserError(f"no local tokenizer for {spec!r} ({str(err).splitlines()[0]})") from None


def chat_template(spec: str):
    """`apply_chat_template` of model `spec`'s tokenizer, loaded at the first conversational
    record (plain-text data never loads it); a UserError if that tokenizer has no chat template."""
    cache = {}

    def render(messages, **kwargs) -> str:
        if "tokenizer" not in cache:
            cache["tokenizer"] = load_tokenizer(spec)
            if not getattr(cache["tokenizer"], "chat_template", None):
                raise UserError(
                    f"conversational data needs a chat template; {spec!r}'s tokenizer has none"
                )
        return cache["tokenizer"].apply_chat_template(messages, **kwargs)

    return render


def _smollm2(seed: int):
    from llm_validation.sources.smollm2 import smollm2_dir

    return _pretrained(smollm2_dir())


def _tiny(name: str):
    def build(seed: int):
        from llm_validation.sources.tiny import build_tiny

        return build_tiny(name, seed)

    return build


EMBEDDED = {"smollm2": _smollm2, "tiny-neox": _tiny("tiny-neox"), "tiny-llama": _tiny("tiny-llama")}


def _looks_like_path(spec: str) -> bool:
    return spec.startswith((".", "/", "~")) or Path(spec).exists() or spec.count("/") > 1


def load_model(
    spec: str,
    *,
    seed: int = 0,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
):
    """`spec` → (model, tokenizer), model in eval mode on `device` in `dtype`.

    Raises `UserError` for a missing path or a hub name that is not in the local cache.
    """
    if spec in EMBEDDED:
        model, tokenizer = EMBEDDED[spec](seed)
    elif _looks_like_path(spec):
        path = Path(spec).expanduser()
        if not (path / "config.json").is_file():
            raise UserError(f"model path not found (no config.json): {spec}")
        model, tokenizer = _pretrained(path)
    else:
        try:
            model, tokenizer = _pretrained(spec)
        except OSError as err:
            raise UserError(
                f"model {spec!r} is neither embedded ({', '.join(EMBEDDED)}) nor in the "
                f"local Hugging Face cache ({str(err).splitlines()[0]})"
            ) from None
    if tokenizer.eos_token_id is None:
        raise UserError(f"model {spec!r}: its tokenizer has no EOS token")
    model.config.use_cache = False
    return model.to(device=device, dtype=dtype).eval(), tokenizer
