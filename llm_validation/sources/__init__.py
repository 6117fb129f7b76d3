"""Sources: where models and data come from.

Holds `models` (`load_model`, chat templates), `tiny` (the project's own test models), `smollm2`
(the embedded GGUF), `examples` (`Example`), `data` (validated JSONL, `load_examples`), `formats`
(datasets folders, parquet, JSON, `hub:`, trl's record kinds), `hh` (the paper's HH files) and
`synthetic` (the built-in task). May import `common`, `simulator` and `llm_validation.core`;
exports nothing here (`llm_validation` re-exports the public names).
"""
