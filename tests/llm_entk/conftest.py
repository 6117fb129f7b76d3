"""Tiny causal LMs from real config classes, in float64 so that oracles agree to round-off.

torch and transformers are an extra: the whole folder skips without them. Tests marked `slow`
(SmolLM2 on CPU, V = 49,152 memory) run only when asked for with `-m slow`.
"""

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from llm_validation.core.entk import Chi  # noqa: E402

VOCAB = 24


def _tiny(config_cls, **extra):
    torch.manual_seed(0)
    config = config_cls(
        hidden_size=8,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=16,
        vocab_size=VOCAB,
        attn_implementation="eager",  # forward-mode AD has no rule for CPU SDPA kernels
        **extra,
    )
    return transformers.AutoModelForCausalLM.from_config(config).double().eval()


@pytest.fixture(scope="module")
def neox():
    """GPT-NeoX: untied head without bias."""
    return _tiny(transformers.GPTNeoXConfig)


@pytest.fixture(scope="module")
def llama_tied():
    """Llama with the output head tied to the input embedding (as SmolLM2)."""
    return _tiny(transformers.LlamaConfig, num_key_value_heads=2, tie_word_embeddings=True)


@pytest.fixture(scope="module")
def phi_bias():
    """Phi: the output head has a bias b_U."""
    return _tiny(transformers.PhiConfig, num_key_value_heads=2)


def _make_chi(seed: int, n_prompt: int = 3, n_response: int = 3) -> Chi:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, VOCAB, (n_prompt + n_response,), generator=g)
    return Chi.from_ids(ids, n_prompt)


@pytest.fixture
def make_chi():
    """χ = (x, y) with random tokens: make_chi(seed, n_prompt=3, n_response=3)."""
    return _make_chi


@pytest.fixture
def vocab():
    return VOCAB


@pytest.fixture(scope="module")
def tiny_neox64():
    """The project's `tiny-neox` (helper loader) in float64, with its tokenizer."""
    from llm_validation.sources.models import load_model

    return load_model("tiny-neox", seed=0, dtype=torch.float64)


@pytest.fixture(scope="module")
def synthetic_items(tiny_neox64):
    """Every probe response of the first synthetic example, tokenised: {probe type: Tokenized}."""
    from llm_validation.core.logprobs import tokenize_example
    from llm_validation.sources.data import load_examples

    (example,), _ = load_examples("synthetic", limit=1)
    return tokenize_example(tiny_neox64[1], example.prompt, example.responses)
