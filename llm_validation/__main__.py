"""`python -m llm_validation …`: see `llm_validation.cli`.

OpenMP threads sleep instead of spinning while they wait (`OMP_WAIT_POLICY=PASSIVE`) when the
cores are already busy as the command starts (`common.openmp`), unless the user set the policy:
on shared or oversubscribed cores spinning costs torch up to 10× in CPU time (measured: a SmolLM2
training step, 2 threads, load average 7), while on idle cores OpenMP's own brief spin is 19 %
faster a step (cpu-squeeze: 2.79 s against 3.43 s). It must be set before torch loads.
"""

from common.openmp import choose_wait_policy

choose_wait_policy()

from llm_validation.cli import main  # noqa: E402

raise SystemExit(main())
