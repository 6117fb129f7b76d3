"""How well predicted Δ log π agree with the actual ones: r, signs, relative error, and the
error's slope in η (≈ 1 when the prediction is first-order exact)."""

from __future__ import annotations

import numpy as np

from simulator import relative_error


def pearson_r(pred: np.ndarray, actual: np.ndarray) -> float:
    """Pearson correlation of predicted and actual Δ log π; nan when either is constant."""
    if len(pred) < 2 or np.std(pred) == 0 or np.std(actual) == 0:
        return float("nan")
    return float(np.corrcoef(pred, actual)[0, 1])


def sign_agreement(pred: np.ndarray, actual: np.ndarray, floor: float = 0.0) -> float:
    """Fraction of probes with |actual| > floor whose predicted change has the actual's sign."""
    keep = np.abs(actual) > floor
    return (
        float(np.mean(np.sign(pred[keep]) == np.sign(actual[keep]))) if keep.any() else float("nan")
    )


def summarize(pred: np.ndarray, actual: np.ndarray, floor: float = 0.0) -> dict:
    """r, sign agreement (all probes, and those above the noise floor), relative error, the mean
    predicted and actual Δ log π, and the count."""
    return {
        "pearson_r": pearson_r(pred, actual),
        "sign_agreement": sign_agreement(pred, actual),
        "sign_agreement_above_floor": sign_agreement(pred, actual, floor),
        "relative_error": relative_error(actual, pred),  # ‖actual − pred‖ / ‖actual‖
        "mean_predicted": float(np.mean(pred)),
        "mean_actual": float(np.mean(actual)),
        "n": int(len(pred)),
    }


def error_slope(lrs: np.ndarray, errors: np.ndarray) -> float:
    """d log(relative error) / d log η by least squares: ≈ 1 when the error is O(η²)/O(η)."""
    return float(np.polyfit(np.log(lrs), np.log(errors), 1)[0])
