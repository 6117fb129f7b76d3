"""`python -m llm_validation …`: see `llm_validation.cli`.

OpenMP threads sleep instead of spinning while they wait (`OMP_WAIT_POLICY=PASSIVE`, unless the
user set it): on shared or oversubscribed cores spinning costs torch up to 10× in CPU time
(measured: a SmolLM2 training step, 2 threads, load average 7). It must be set before torch loads.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from llm_validation.cli import main  # noqa: E402

raise SystemExit(main())
