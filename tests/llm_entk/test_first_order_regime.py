"""The bar: one SGD step at η = 1e-3 on `tiny-neox` is in the first-order regime, for SFT and DPO:
the prediction tracks the real step (r ≥ 0.99, signs ≥ 95 %) and its error is O(η²), so the
relative error falls linearly with η."""

import pytest

from llm_validation.config import PredictConfig
from llm_validation.measure.predict import main


@pytest.mark.parametrize("method", ["sft", "dpo"])
def test_one_sgd_step_follows_the_first_order_prediction(method, tmp_path):
    summary = main(
        PredictConfig(
            loss=method, optimizer="sgd", lr=1e-3, lr_sweep=True, factors="none", out=str(tmp_path)
        )
    )
    assert summary["pearson_r"] >= 0.99
    assert summary["sign_agreement"] >= 0.95
    assert summary["lr_sweep"]["slope_log_error_vs_log_lr"] == pytest.approx(1.0, abs=0.15)
