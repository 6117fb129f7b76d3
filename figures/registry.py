"""Every figure as a (compute → plot → save) triple, in the order the paper's story needs them.

A figure module exposes `Config` (a frozen dataclass with the default settings), `TINY` (the
smoke-test settings), `compute(cfg) -> data` and `plot(data, cfg) -> Figure`, or a
`{name: Figure}` for a figure drawn once per run (`stem_name`). An object with the same names
stands in for a module where one module draws two figures (`paper.curves.SFT` and `.DPO`). `draw`
runs the three and writes one file per figure and format.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from . import style


@dataclass(frozen=True)
class FigureSpec:
    """One figure: its file stem, its module, the llm_validation run file it reads (if any) and
    the methods whose runs it compares (`config.json`'s method, one run each)."""

    number: int
    name: str
    module: Any  # a figure module, or an object with its names (`paper.curves.SFT`)
    run_file: str | None = None
    run_methods: tuple[str, ...] = ()

    @property
    def needs_runs(self) -> bool:
        return self.run_file is not None

    @property
    def stem(self) -> str:
        return f"{self.number:02d}_{self.name}"

    def unavailable(self, cfg) -> str | None:
        """Why the figure cannot be drawn with `cfg` beyond missing runs (e.g. no reference run,
        the module's `unavailable(cfg)`), or None."""
        check = getattr(self.module, "unavailable", None)
        return None if check is None else check(cfg)

    def config(self, tiny: bool = False, **overrides):
        """The default (or tiny) config, with the overrides that it has fields for."""
        cfg = self.module.TINY if tiny else self.module.Config()
        fields = {f.name for f in dataclasses.fields(cfg)}
        return dataclasses.replace(cfg, **{k: v for k, v in overrides.items() if k in fields})


def save(
    fig: Figure, out: Path, stem: str, formats: tuple[str, ...], dpi: float | None = None
) -> list[Path]:
    """Write `fig` as out/stem.<fmt> for every format; returns the paths. dpi None: the style's."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.{fmt}" for fmt in formats]
    for path in paths:
        fig.savefig(path, dpi=dpi)
    return paths


def draw(
    spec: FigureSpec, cfg, out: Path, formats: tuple[str, ...] = ("png",), dpi: float | None = None
) -> list[Path]:
    """compute → plot → save one figure (or one per run) under the shared style."""
    data = spec.module.compute(cfg)
    with style.context():
        drawn = spec.module.plot(data, cfg)
        if isinstance(drawn, Figure):
            return save(drawn, out, spec.stem, formats, dpi)
        return [
            p
            for name, fig in drawn.items()
            for p in save(fig, out, f"{spec.stem}_{name}", formats, dpi)
        ]
