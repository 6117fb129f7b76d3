"""Core: the math on torch tensors, no files, argparse or plots.

Holds `logprobs` (batched scoring, token metrics), `losses` (the one registry on torch), `entk`,
`directions` (the optimiser table and step directions), `first_order`, `agreement`, `drift`,
`intervals`, `winrate_stats` and `diversity`. May import `common` and `simulator` only; exports
nothing here (`llm_validation` re-exports the public names).
"""
