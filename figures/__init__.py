"""The teaching figure set, drawn by one command: `python -m figures --out DIR [--runs DIR]`.

Figures 1–9 come from the numpy simulator alone; 10–14 and 16 read llm_validation runs when given;
15 puts the simulator's DPO beside the reference LM run in ../shared (skipped when it is absent).
Each figure module separates compute → plot → save (see `registry`).
"""

from . import (
    digits_influence,
    dpo_curves,
    dpo_reference,
    extension,
    kernel_drift,
    one_step,
    onpolicy,
    phase,
    real_squeeze,
    run_curves,
    run_extension,
    run_onpolicy,
    run_predict,
    sft_curves,
    squeezing,
    type_influence,
)
from .registry import FigureSpec, draw, save
from .runs_io import METRICS, PREDICTIONS

FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec(1, "one_step", one_step),
    FigureSpec(2, "digits_influence", digits_influence),
    FigureSpec(3, "squeezing", squeezing),
    FigureSpec(4, "phase", phase),
    FigureSpec(5, "sft_curves", sft_curves),
    FigureSpec(6, "dpo_curves", dpo_curves),
    FigureSpec(7, "extension", extension),
    FigureSpec(8, "onpolicy", onpolicy),
    FigureSpec(9, "type_influence", type_influence),
    FigureSpec(10, "run_curves", run_curves, run_file=METRICS),
    FigureSpec(11, "run_predict", run_predict, run_file=PREDICTIONS),
    FigureSpec(12, "kernel_drift", kernel_drift, run_file=kernel_drift.DRIFT),
    FigureSpec(13, "run_extension", run_extension, METRICS, ("sft-dpo", "extend-dpo")),
    FigureSpec(14, "run_onpolicy", run_onpolicy, METRICS, ("dpo", "onpolicy-dpo")),
    FigureSpec(15, "dpo_reference", dpo_reference),
    FigureSpec(16, "real_squeeze", real_squeeze, METRICS, ("dpo",)),
)

__all__ = ["FIGURES", "FigureSpec", "draw", "save"]
