"""One prompt and its responses: what every data source yields (a leaf module)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Example:
    """One prompt x with its responses {probe type: y}; `source` is `file:line`."""

    prompt: str
    responses: Mapping[str, str]
    source: str = ""

    @property
    def chosen(self) -> str:
        return self.responses["chosen"]

    @property
    def rejected(self) -> str:
        return self.responses["rejected"]
