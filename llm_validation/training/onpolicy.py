"""On-policy pairs: sample two responses per prompt from the current policy and rank them.

The reward (`--reward`) is the synthetic task's ground truth (`synthetic.reward`) for
`--data synthetic`; `pair-overlap`, an offline stand-in for a reward model on preference data:
r(x, y) = F1(y, y⁺_x) − F1(y, y⁻_x), the unigram F1 of the sample against the example's own
chosen response minus that against its rejected one (the sample that reads more like y⁺ wins);
or a user callable named `module:function`, called as function(prompt, response) -> float. The
higher-reward sample becomes y⁺ (a tie keeps the sampling order).
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable, Sequence

import torch

from common.errors import UserError
from llm_validation.core.logprobs import (
    Tokenized,
    Truncation,
    encode,
    sampling_prompt,
    tokenize_example,
)
from llm_validation.sources.examples import Example

Reward = Callable[[str, str], float]


PAIR_OVERLAP = "pair-overlap"


def unigram_f1(response: str, reference: str) -> float:
    """F1 of the two texts' word multisets (whitespace words, lower-cased); 0 if either is empty."""
    a, b = Counter(response.lower().split()), Counter(reference.lower().split())
    common = sum((a & b).values())
    if common == 0:
        return 0.0
    precision, recall = common / sum(a.values()), common / sum(b.values())
    return 2 * precision * recall / (precision + recall)


def pair_overlap_reward(examples: Sequence[Example]) -> Reward:
    """r(x, y) = F1(y, y⁺_x) − F1(y, y⁻_x) over the examples' own pairs, looked up by prompt."""
    pairs = {ex.prompt: (ex.chosen, ex.rejected) for ex in examples}

    def reward(prompt: str, response: str) -> float:
        if prompt not in pairs:
            raise UserError(
                f"--reward {PAIR_OVERLAP}: no training example has the prompt {prompt[:60]!r}"
            )
        chosen, rejected = pairs[prompt]
        return unigram_f1(response, chosen) - unigram_f1(response, rejected)

    return reward


def load_reward(spec: str | None, data: str, examples: Sequence[Example] = ()) -> Reward:
    """None with synthetic data → the ground-truth reward; `pair-overlap` → `pair_overlap_reward`
    of `examples`; `module:function` → the callable. A missing or broken one is a UserError."""
    if spec is None:
        if data != "synthetic":
            raise UserError(
                f"onpolicy-dpo on your own data needs --reward ({PAIR_OVERLAP} or module:function)"
            )
        from llm_validation.sources.synthetic import reward

        return reward
    if spec == PAIR_OVERLAP:
        return pair_overlap_reward(examples)
    module_name, _, name = spec.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError) as err:
        raise UserError(f"cannot load reward {spec!r}: {err}") from None
    if not callable(function):
        raise UserError(f"reward {spec!r} is not callable")
    return function


@torch.no_grad()
def sample_pairs(
    model,
    tokenizer,
    examples: Sequence[Example],
    reward: Reward,
    seed: int,
    max_new_tokens: int,
    truncation: Truncation,
) -> list[tuple[Tokenized, Tokenized]]:
    """One (y⁺, y⁻) per prompt from two policy samples ranked by `reward`; sampling is seeded by
    `seed` (a function of the step), so a resumed run draws the same samples."""
    device = next(model.parameters()).device
    torch.manual_seed(seed)
    pairs = []
    for ex in examples:
        prompt = sampling_prompt(encode(tokenizer, ex.prompt), truncation, max_new_tokens)
        ids = torch.tensor([prompt], device=device)
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            do_sample=True,
            top_k=0,
            top_p=1.0,
            temperature=1.0,
            num_return_sequences=2,
            max_new_tokens=max_new_tokens,
            use_cache=True,
            pad_token_id=tokenizer.eos_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        texts = [tokenizer.decode(row[len(prompt) :], skip_special_tokens=True) for row in out]
        first, second = (
            texts if reward(ex.prompt, texts[0]) >= reward(ex.prompt, texts[1]) else texts[::-1]
        )
        tokens = tokenize_example(
            tokenizer, ex.prompt, {"chosen": first, "rejected": second}, truncation
        )
        pairs.append((tokens["chosen"], tokens["rejected"]))
    return pairs
