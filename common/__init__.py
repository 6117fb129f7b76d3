"""The ground every package stands on: the one error type and error line, config → CLI flags, the
probe vocabulary and the run format. Standard library only; imported by `simulator`,
`llm_validation`, `figures` and `benchmarks`, and importing none of them.
"""
