"""Alignment: sampling, judging and the extension-vs-baseline comparison.

Holds `generate` (batched sampling), `judges` (synthetic, reward:, rm:, openai:), `winrate`
(`winrate`: both orders, intervals) and `extension` (`align`: dataset extension vs the baseline,
trained through `training`). May import `common`, `llm_validation.core`, `sources`, `config` and
`training`; exports nothing here.
"""
