"""IPO's and SimPO's targets against values computed by hand (not against another copy of the
formula: a bug shared by the numpy and torch evaluations of one definition would pass that)."""

import math

import numpy as np
import pytest

from simulator import LOSSES
from simulator.losses import SequenceScores


def _scores(logp, ref=None, length=(1.0, 1.0)):
    pair = lambda v: {"chosen": np.array([v[0]]), "rejected": np.array([v[1]])}
    return SequenceScores(pair(logp), None if ref is None else pair(ref), pair(length))


def test_ipo_regresses_the_margin_onto_one_over_two_beta():
    """h = (−10 + 11) − (−12 + 11.5) = 1.5; at β = 0.25 the target 1/(2β) = 2, so
    L = (1.5 − 2)² = 0.25 and c± = ±2(h − 2) = ∓1: IPO still pushes y⁺ up below its target."""
    value = LOSSES["ipo"].evaluate(_scores((-10.0, -12.0), (-11.0, -11.5)), beta=0.25)
    assert float(value.loss) == pytest.approx(0.25, abs=1e-12)
    assert float(value.dlogp["chosen"][0]) == pytest.approx(-1.0, abs=1e-12)
    assert float(value.dlogp["rejected"][0]) == pytest.approx(1.0, abs=1e-12)


def test_ipo_pushes_back_once_the_margin_passes_its_target():
    """h = 3 > 1/(2β) = 2: c⁺ = 2(3 − 2) = +2 > 0, descent now lowers log π(y⁺)."""
    value = LOSSES["ipo"].evaluate(_scores((-8.0, -12.0), (-10.0, -11.0)), beta=0.25)
    assert float(value.loss) == pytest.approx(1.0, abs=1e-12)
    assert float(value.dlogp["chosen"][0]) == pytest.approx(2.0, abs=1e-12)


def test_simpo_compares_length_normalised_log_probs_against_the_margin_gamma():
    """log π(y⁺) = −6 over 3 tokens, log π(y⁻) = −12 over 4: u = 2·(−2) − 2·(−3) − 0.5 = 1.5 at
    β = 2, γ = 0.5; L = −log σ(1.5) = log(1 + e^−1.5) and c± = ∓σ(−1.5)·β/|y±|."""
    value = LOSSES["simpo"].evaluate(_scores((-6.0, -12.0), length=(3.0, 4.0)), beta=2.0, gamma=0.5)
    w = 1.0 / (1.0 + math.exp(1.5))  # σ(−1.5)
    assert float(value.loss) == pytest.approx(math.log1p(math.exp(-1.5)), abs=1e-12)
    assert float(value.dlogp["chosen"][0]) == pytest.approx(-w * 2.0 / 3.0, abs=1e-12)
    assert float(value.dlogp["rejected"][0]) == pytest.approx(w * 2.0 / 4.0, abs=1e-12)
