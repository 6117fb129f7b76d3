"""Tools the benchmarks and the maintainers run by hand: `timing` (paired ratios, `record`,
`require_model`), `dpo_step` (one DPO step on a SmolLM2-shaped model, for the FLOP/s targets),
`gpu_check` (`python -m benchmarks.tools.gpu_check`: a scaled pipeline run on one CUDA card) and
`mutation` (`make mutate`). May import everything below `benchmarks`; holds no test.
"""
