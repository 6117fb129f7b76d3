"""`close` ends a run's process group without leaving its destruction to a DDP model's reducer."""

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from llm_validation.training import distributed


def test_close_keeps_the_group_alive_past_the_ddp_reducer_until_exit(tmp_path):
    """The reducer frees what it holds with the GIL held; were it the group's last owner, gloo's
    worker threads (joined by the group's destructor) could wait for that GIL forever. So `close`
    keeps the group itself until `atexit`, and the reducer is never its last owner."""
    store = f"file://{tmp_path / 'store'}"
    dist.init_process_group("gloo", init_method=store, rank=0, world_size=1)
    model = DistributedDataParallel(torch.nn.Linear(2, 2))
    group = dist.group.WORLD
    model(torch.ones(1, 2)).sum().backward()  # a collective through the reducer
    distributed.close()
    assert not dist.is_initialized()
    assert any(g is group for g in distributed._RETIRED)
    del model
    distributed._release_retired()
    assert distributed._RETIRED == []
