#!/usr/bin/env bash
# Run every gpu-* preset on one GPU, one after the other, then write their trend table.
#
#   scripts/gpu_presets.sh [RUNS_DIR] [extra `run` flags, e.g. --model PATH]
#
# From the repository root (the presets read ../shared/data/hh_probe_train.jsonl). Each preset is
# sized for at most 5 minutes alone on one H100/H200-class GPU (llm_validation/presets.py);
# the table goes to RUNS_DIR/trends.md and stdout. Any extra flags reach every run: `--model
# tiny-neox --data synthetic --steps 2 --sft-steps 1 --eval-every 1 --probe-limit 2 --limit 4`
# is the suite's CPU smoke test of this script.
set -euo pipefail
runs=${1:-runs/gpu}
shift || true
python=${PYTHON:-python}
for preset in gpu-dpo gpu-sft gpu-sft-dpo gpu-extend-dpo gpu-onpolicy-dpo; do
    echo "== $preset → $runs/$preset" >&2
    "$python" -m llm_validation run --preset "$preset" --out "$runs/$preset" "$@"
done
"$python" -m llm_validation trends --runs "$runs" --markdown | tee "$runs/trends.md"
