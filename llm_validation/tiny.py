"""`tiny-neox` / `tiny-llama`: random-init causal LMs from the real config classes.

For tests and quick demos: 2 layers, hidden size 32, a byte-level BPE tokenizer of `VOCAB_SIZE`
tokens trained offline (in well under a second) on `synthetic.corpus()`. Byte-level, so any text
(HH included) encodes without unknown tokens. Deterministic given the seed: the tokenizer depends
only on the corpus, the weights only on `torch.manual_seed(seed)`.
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

from llm_validation.synthetic import corpus

VOCAB_SIZE = 512
EOS = "<|endoftext|>"
SIZES = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
             max_position_embeddings=1024)


def build_tokenizer() -> PreTrainedTokenizerFast:
    """Byte-level BPE with `VOCAB_SIZE` tokens and one special token, EOS (also used as pad)."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=[EOS], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(corpus(), trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token=EOS, pad_token=EOS, bos_token=EOS)


def _neox(vocab: int, eos: int):
    config = GPTNeoXConfig(vocab_size=vocab, eos_token_id=eos, bos_token_id=eos, pad_token_id=eos,
                           attn_implementation="eager", **SIZES)
    return GPTNeoXForCausalLM(config)


def _llama(vocab: int, eos: int):
    config = LlamaConfig(vocab_size=vocab, eos_token_id=eos, bos_token_id=eos, pad_token_id=eos,
                         num_key_value_heads=2, attn_implementation="eager", **SIZES)
    return LlamaForCausalLM(config)


ARCHITECTURES = {"tiny-neox": _neox, "tiny-llama": _llama}


def build_tiny(name: str, seed: int = 0):
    """(model, tokenizer) for `tiny-neox` or `tiny-llama`, fp32, eager attention."""
    tokenizer = build_tokenizer()
    torch.manual_seed(seed)
    model = ARCHITECTURES[name](len(tokenizer), tokenizer.eos_token_id)
    return model, tokenizer
