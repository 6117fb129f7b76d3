"""Finetune real causal LMs (SFT, the DPO family, dataset extension, on-policy DPO) and track the
log-likelihood of the paper's probe responses.

Public surface (imported lazily, so `python -m llm_validation` starts fast):

- `load_model(spec, seed=0, device="cpu", dtype=float32) -> (model, tokenizer)`
- `load_examples(spec, required=("chosen", "rejected"), strict=False, limit=None, seed=0)`
- `tokenize_example`, `collate`, `sequence_logps`, `score`, `naive_sequence_logp`, `Truncation`
- `LOSSES` (the one registry, `simulator.LOSSES`), `RunConfig`, `main` (a run), `UserError`
- `LearningDynamicsCallback`: probe tracking inside a transformers / trl trainer (`trl` extra)
"""

from importlib import import_module

_EXPORTS = {
    "load_model": "sources.models",
    "load_examples": "sources.data",
    "Example": "sources.examples",
    "PROBE_TYPES": "common.probes",
    "Truncation": "core.logprobs",
    "tokenize_example": "core.logprobs",
    "collate": "core.logprobs",
    "sequence_logps": "core.logprobs",
    "score": "core.logprobs",
    "naive_sequence_logp": "core.logprobs",
    "LOSSES": "core.losses",
    "RunConfig": "config",
    "main": "backends",
    "UserError": "common.errors",
    "LearningDynamicsCallback": "trl.callback",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'llm_validation' has no attribute {name!r}")
    module = _EXPORTS[name]
    package = module if module.startswith("common.") else f"llm_validation.{module}"
    return getattr(import_module(package), name)
