"""A child process that SIGKILLs itself mid-step, for the resume tests (tiny-neox and presets).

`python -c KILLED_MID_STEP <run flags>` runs `python -m llm_validation run …` and kills itself
inside optimiser step KILL_AT (counted from 1), at that step's KILL_FORWARD-th training forward
(default 2: the second micro-batch's, after the first one's backward, so the gradients are half
accumulated; 1: before any backward of the step). The optimiser has not stepped.
"""

KILLED_MID_STEP = """
import os, signal, sys
from llm_validation import cli
from llm_validation.training import train

kill_at, now = int(os.environ["KILL_AT"]), {"step": 0, "forwards": 0}
kill_forward = int(os.environ.get("KILL_FORWARD", "2"))
step, logps = train.train_step, train.group_logps

def train_step(session, phase, batch, index, reference, at=0):
    now.update(step=at + 1, forwards=0)
    return step(session, phase, batch, index, reference, at)

def group_logps(model, *args):
    if model.training:
        now["forwards"] += 1
        if now["step"] == kill_at and now["forwards"] == kill_forward:
            print("killing mid-step", now, file=sys.stderr, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
    return logps(model, *args)

train.train_step, train.group_logps = train_step, group_logps
sys.exit(cli.main(sys.argv[1:]))
"""
