"""The trl integration: `LearningDynamicsCallback` (`callback`) for any transformers / trl
trainer, and `run --backend trl` (`backend`), the project's methods through trl's trainers.

May import `common`, `llm_validation.core`, `sources`, `config` and `training`. Exports
`LearningDynamicsCallback`, imported lazily: importing this package loads neither transformers
nor the `trl` package (the `trl` extra).
"""

from importlib import import_module

__all__ = ["LearningDynamicsCallback"]


def __getattr__(name: str):
    if name != "LearningDynamicsCallback":
        raise AttributeError(f"module 'llm_validation.trl' has no attribute {name!r}")
    return getattr(import_module("llm_validation.trl.callback"), name)
