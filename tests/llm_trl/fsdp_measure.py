"""`torchrun --nproc_per_node W -m tests.llm_trl.fsdp_measure OUT` (or plain `python -m`): the
callback scores 6 synthetic examples' probes on tiny-neox, fully_shard-ed (FSDP2, gloo on CPU)
under torchrun; rank 0 writes OUT (JSON: the summary rows, whether the model was seen as FSDP)."""

import json
import os
import sys

import torch.distributed as dist

from llm_validation.sources.models import load_model
from llm_validation.sources.synthetic import generate
from llm_validation.training.distributed import is_fsdp
from llm_validation.training.tracking import summarize
from llm_validation.trl.callback import LearningDynamicsCallback


def main(out: str) -> None:
    if "RANK" in os.environ:
        dist.init_process_group("gloo")
    model, tokenizer = load_model("tiny-neox")
    callback = LearningDynamicsCallback(generate(6, seed=0), progress=False)
    callback.bind(tokenizer)
    if dist.is_initialized():
        from torch.distributed.fsdp import fully_shard

        for layer in model.gpt_neox.layers:
            fully_shard(layer)
        fully_shard(model)
    arrays, _ = callback.measure(model)
    if int(os.environ.get("RANK", 0)) == 0:
        with open(out, "w") as handle:
            json.dump({"rows": summarize(arrays), "fsdp": is_fsdp(model)}, handle)
    if dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
