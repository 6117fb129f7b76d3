"""Measure: one-shot eNTK measurements and the reports on finished runs.

Holds `score` (`logprobs`), `predict` (the first-order prediction against a measured step),
`influence` (relative influence between examples) and `trends` (the paper's signatures checked
on run folders, with intervals). May import `common`, `simulator`, `llm_validation.core`,
`sources`, `config` and `training`'s shared plumbing (`runtime`, `tracking`); exports nothing here.
"""
