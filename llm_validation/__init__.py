"""Finetune real causal LMs (SFT, the DPO family, dataset extension, on-policy DPO) and track the
log-likelihood of the paper's probe responses.

Public surface (imported lazily, so `python -m llm_validation` starts fast):

- `load_model(spec, seed=0, device="cpu", dtype=float32) -> (model, tokenizer)`
- `load_examples(spec, required=("chosen", "rejected"), strict=False, limit=None, seed=0)`
- `tokenize_example`, `collate`, `sequence_logps`, `score`, `naive_sequence_logp`, `Truncation`
- `LOSSES`, `PairScores`, `RunConfig`, `main` (a run), `UserError`
"""

from importlib import import_module

_EXPORTS = {
    "load_model": "models",
    "load_examples": "data",
    "Example": "data",
    "PROBE_TYPES": "data",
    "Truncation": "logprobs",
    "tokenize_example": "logprobs",
    "collate": "logprobs",
    "sequence_logps": "logprobs",
    "score": "logprobs",
    "naive_sequence_logp": "logprobs",
    "LOSSES": "losses",
    "PairScores": "losses",
    "RunConfig": "config",
    "main": "train",
    "UserError": "errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'llm_validation' has no attribute {name!r}")
    return getattr(import_module(f"llm_validation.{_EXPORTS[name]}"), name)
