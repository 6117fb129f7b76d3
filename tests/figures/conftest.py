import json

import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")

from threadpoolctl import threadpool_limits  # noqa: E402  (a scikit-learn dependency)


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """The figures' matrices are small; like the CLI, run them on one BLAS thread."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture
def fake_runs(tmp_path):
    """A folder of llm_validation runs in their file formats: traces of four methods, a predict
    sweep and a kernel-tracked run's drift.json."""
    from figures.style import PROBES

    root = tmp_path / "runs"
    for name, method, slope in (
        ("tiny-dpo", "dpo", -0.5),
        ("tiny-onpolicy", "onpolicy-dpo", -0.2),
        ("tiny-sft-dpo", "sft-dpo", -0.4),
        ("tiny-extend-dpo", "extend-dpo", -0.3),
    ):
        run = root / name
        run.mkdir(parents=True)
        (run / "config.json").write_text(json.dumps({"method": method, "steps": 4, "sft_steps": 2}))
        lines = ["step,examples_seen,probe_type,metric,value"]
        for step in range(0, 6, 2):
            for i, t in enumerate(PROBES):
                lines.append(f"{step},{4 * step},{t},logp,{-10.0 * (i + 1) + slope * step}")
            lines.append(f"{step},{4 * step},chosen,mass_outside_argmax,{0.5 - 0.01 * step}")
            lines.append(f"{step},{4 * step},train,loss,0.69")
        (run / "metrics.csv").write_text("\n".join(lines) + "\n")
    pred = root / "predict-dpo"
    pred.mkdir()
    (pred / "config.json").write_text('{"lr": 0.001, "method": "dpo", "optimizer": "sgd"}')
    rows = ["update,probe_type,lr,predicted,actual,mean_norm_A"]
    for lr in (0.0005, 0.001):
        for i, t in enumerate(["chosen", "rejected", "irr_test", "random_nonhum"]):
            rows.append(f"0,{t},{lr},{lr * (i - 1.5)},{lr * (i - 1.5) * 1.01},22.6")
    (pred / "predictions.csv").write_text("\n".join(rows) + "\n")
    tracked = root / "tracked-sft"  # drift.json of `run --track-kernel` (`training.drift`)
    tracked.mkdir()
    drift = [
        {
            "step": s,
            "subset": sub,
            "correlation": 1 - 0.01 * s * (2 if sub == "all" else 1),
            "max_change": 0.02 * s,
        }
        for s in (0, 4, 8)
        for sub in ("all", "unembed")
    ]
    trajectory = [
        {
            "interval": s,
            "prediction": p,
            "intervals": 8 // s,
            "n": 22 * (8 // s),
            "pearson_r": 0.999 - (0.01 * s if p == "fixed_kernel" else 0.0),
            "relative_error": 0.02 * (s if p == "fixed_kernel" else 1),
            "sign_agreement": 0.99,
        }
        for s in (1, 4, 8)
        for p in ("fixed_kernel", "per_step")
    ]
    (tracked / "drift.json").write_text(json.dumps({"drift": drift, "trajectory": trajectory}))
    return root
