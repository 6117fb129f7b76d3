"""Training: the native loop (`train`) and what every trainer shares.

Holds the loop and its phase plans (`methods`), `checkpoint`, `onpolicy` sampling, `runtime`
(device, dtype, seeds, data order), probe `tracking` (probe sets → rows), `dynamics` (squeezing,
where the mass went), `distributed` (torchrun sharding), `kernel_tracking` and its `drift` tables.
May import `common`, `simulator`, `llm_validation.core`, `sources` and `config`; exports nothing
here (import the module you need).
"""
