"""`python -m tests.llm_trl.ddp_run OUT` (one process) or `torchrun --nproc_per_node W -m
tests.llm_trl.ddp_run OUT`: 4 DPOTrainer steps of tiny-neox with a global batch of 4 (4/W a
rank) and the callback, probes scored every 2 steps. Both launches train on the same examples in
the same order, so their probe metrics must agree. Each rank also writes OUT-rank<r>.json with
the world size it saw and how many probe items it scored."""

import json
import os
import sys
from pathlib import Path

from llm_validation.sources.synthetic import generate
from llm_validation.training.distributed import close, shard, world
from llm_validation.trl.callback import LearningDynamicsCallback

from .trainers import dpo


def main(out: str) -> None:
    examples = generate(16, seed=0)
    callback = LearningDynamicsCallback(examples[:6], eval_every=2, out=out, progress=False)
    size = int(os.environ.get("WORLD_SIZE", 1))  # set by torchrun before any process group
    trainer = dpo(
        examples, out + "-trainer", callback, steps=4, per_device_train_batch_size=4 // size
    )
    trainer.train()
    rank, size = world()
    mine = len(shard(len(callback.probes.items)))
    Path(f"{out}-rank{rank}.json").write_text(json.dumps({"world": size, "scored": mine}))
    close()


if __name__ == "__main__":
    main(sys.argv[1])
