"""`tiny-neox` / `tiny-llama`: random-init causal LMs from the real config classes.

For tests and quick demos: 2 layers, hidden size d = 32, a byte-level BPE tokenizer of
`VOCAB_SIZE` tokens trained offline (in well under a second) on `synthetic.corpus()`. Byte-level, so
any text (HH included) encodes without unknown tokens. Deterministic given the seed: the tokenizer
depends only on the corpus, the weights only on `torch.manual_seed(seed)`.

Weights start from N(0, σ²) with σ = `small_init_std(d)` = √(2/(5d)) (Nguyen & Salazar 2019; the
GPT-NeoX library's default), not transformers' fixed σ = 0.02, which is that rule at d ≈ 1000. At
d = 32 a 0.02 init leaves the residual stream at RMS ≈ 0.02 when it enters the final LayerNorm,
which then divides every gradient by ≈ 0.02 and is far from linear over one step: SFT with SGD at
η = 1e-3 left the first-order prediction at r = 0.985 against 0.9997 with σ = √(2/(5d)) ≈ 0.11
(residual RMS ≈ 0.4). Pretrained LMs sit on the other side: SmolLM2's residual stream enters its
final norm at RMS ≈ 120.
"""

from __future__ import annotations

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    GPTNeoXConfig,
    GPTNeoXForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)

from llm_validation.sources.synthetic import corpus

VOCAB_SIZE = 512
EOS = "<|endoftext|>"
HIDDEN = 32


def small_init_std(d: int) -> float:
    """σ = √(2/(5d)): the "small init" of Nguyen & Salazar (2019) for a width-d transformer."""
    return (2.0 / (5.0 * d)) ** 0.5


CONFIG = dict(
    hidden_size=HIDDEN,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=64,
    max_position_embeddings=1024,
    initializer_range=small_init_std(HIDDEN),
)


def build_tokenizer() -> PreTrainedTokenizerFast:
    """Byte-level BPE with `VOCAB_SIZE` tokens and one special token, EOS (also used as pad)."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=[EOS],
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator(corpus(), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token=EOS, pad_token=EOS, bos_token=EOS
    )


def _neox(vocab: int, eos: int):
    config = GPTNeoXConfig(
        vocab_size=vocab,
        eos_token_id=eos,
        bos_token_id=eos,
        pad_token_id=eos,
        attn_implementation="sdpa",
        **CONFIG,
    )
    return GPTNeoXForCausalLM(config)


def _llama(vocab: int, eos: int):
    config = LlamaConfig(
        vocab_size=vocab,
        eos_token_id=eos,
        bos_token_id=eos,
        pad_token_id=eos,
        num_key_value_heads=2,
        attn_implementation="sdpa",
        **CONFIG,
    )
    return LlamaForCausalLM(config)


ARCHITECTURES = {"tiny-neox": _neox, "tiny-llama": _llama}


def build_tiny(name: str, seed: int = 0):
    """(model, tokenizer) for `tiny-neox` or `tiny-llama`, fp32, SDPA attention."""
    tokenizer = build_tokenizer()
    torch.manual_seed(seed)
    model = ARCHITECTURES[name](len(tokenizer), tokenizer.eos_token_id)
    return model, tokenizer
