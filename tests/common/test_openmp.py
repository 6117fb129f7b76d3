"""OpenMP's threads sleep at once only where other jobs already load the cores."""

import os

import pytest

from common import openmp


def test_idle_cores_keep_openmps_brief_spin_and_busy_ones_sleep():
    assert openmp.wait_policy(load=0.1, cpus=2) is None
    assert openmp.wait_policy(load=1.4, cpus=2) is None
    assert openmp.wait_policy(load=1.5, cpus=2) is None  # the boundary: "fills … less one half"
    assert openmp.wait_policy(load=1.6, cpus=2) == "PASSIVE"  # one other job on two cores
    assert openmp.wait_policy(load=7.0, cpus=16) is None
    assert openmp.wait_policy(load=16.0, cpus=16) == "PASSIVE"


@pytest.mark.skipif(not hasattr(os, "getloadavg"), reason="no load average here")
@pytest.mark.parametrize(("load", "expected"), [(0.0, None), (99.0, "PASSIVE")])
def test_the_policy_follows_the_load_at_start(monkeypatch, load, expected):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    assert openmp.choose_wait_policy() == expected
    assert os.environ.get("OMP_WAIT_POLICY") == expected


def test_a_policy_the_user_set_is_kept(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    monkeypatch.setattr(os, "getloadavg", lambda: (99.0, 99.0, 99.0))
    assert openmp.choose_wait_policy() == "ACTIVE"
