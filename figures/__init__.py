"""The teaching figure set, drawn by one command: `python -m figures --out DIR [--runs DIR]`.

Figures 1–9 come from the numpy simulator alone (`paper/`); 10–14 and 16 read llm_validation runs
when given (`runs/`); 15 puts the simulator's DPO beside the reference LM run in ../shared (skipped
when it is absent). Each figure module separates compute → plot → save (see `registry`).
"""

from . import paper, runs
from .registry import FigureSpec, draw, save
from .runs.io import METRICS, PREDICTIONS

FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec(1, "one_step", paper.one_step),
    FigureSpec(2, "digits_influence", paper.digits_influence),
    FigureSpec(3, "squeezing", paper.squeezing),
    FigureSpec(4, "phase", paper.phase),
    FigureSpec(5, "sft_curves", paper.curves.SFT),
    FigureSpec(6, "dpo_curves", paper.curves.DPO),
    FigureSpec(7, "extension", paper.extension),
    FigureSpec(8, "onpolicy", paper.onpolicy),
    FigureSpec(9, "type_influence", paper.type_influence),
    FigureSpec(10, "run_curves", runs.curves, run_file=METRICS),
    FigureSpec(11, "run_predict", runs.predict, run_file=PREDICTIONS),
    FigureSpec(12, "kernel_drift", runs.kernel_drift, run_file=runs.kernel_drift.DRIFT),
    FigureSpec(13, "run_extension", runs.extension, METRICS, ("sft-dpo", "extend-dpo")),
    FigureSpec(14, "run_onpolicy", runs.onpolicy, METRICS, ("dpo", "onpolicy-dpo")),
    FigureSpec(15, "dpo_reference", runs.dpo_reference),
    FigureSpec(16, "real_squeeze", runs.real_squeeze, METRICS, ("dpo",)),
)

__all__ = ["FIGURES", "FigureSpec", "draw", "save"]
