"""The project's own trainer from Python: a DPO run on the built-in synthetic task, its run
folder, and its summary. CPU, under a minute.

    pip install -e '.[llm]'
    python examples/native_trainer.py

The same as `python -m llm_validation run --method dpo --model tiny-neox --data synthetic
--steps 6 --eval-every 2 --out runs/native-dpo`; every flag is a field of `RunConfig`.
"""

import json

from llm_validation import RunConfig, main

cfg = RunConfig(
    method="dpo",
    model="tiny-neox",
    data="synthetic",
    limit=32,
    probe_limit=16,
    steps=6,
    eval_every=2,
    lr=1e-3,
    out="runs/native-dpo",
)
out = main(cfg)  # the run folder: config.json, metrics.csv, summary.json, …
summary = json.loads((out / "summary.json").read_text())
print(sorted(p.name for p in out.iterdir()))
print({k: summary[k] for k in ("squeezing", "mass_gained") if k in summary})
