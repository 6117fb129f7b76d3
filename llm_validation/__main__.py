"""`python -m llm_validation …`: see `llm_validation.cli`."""

from llm_validation.cli import main

raise SystemExit(main())
