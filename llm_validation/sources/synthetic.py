"""`synthetic`: a built-in preference task with a ground-truth reward, generated offline.

Grammar (HH-style turns, so the same code path serves real and synthetic data)::

    prompt   := "\\n\\nHuman: " VERB " " ITEMS "\\n\\nAssistant:"
    VERB     := "repeat" | "reverse" | "sort"
    ITEMS    := WORD (" " WORD)*        3 to 5 words from WORDS
    response := " " WORD (" " WORD)*    (EOS is appended by the log-prob code)

The correct answer y⁺ applies VERB to ITEMS (sort is alphabetical on the canonical word). Every
word has one synonym (`SYNONYMS`); the reward reads synonyms as their canonical word, so a rephrase
keeps the meaning.

Ground-truth reward (`reward`): r(x, y) = #{i : canon(y_i) = t_i} / max(|y|, |t|) ∈ [0, 1], with t
the correct answer for x; r = 1 exactly for a correct answer (or its synonym rephrase).

Probe responses, by rule (paper Table 1 / Section 4 names in brackets):

- chosen [y⁺_u]: the correct answer.  rejected [y⁻_u]: the correct answer with 1-2 words replaced.
- chosen_gptsemantic / reject_gptsemantic [y⁺_gpts / y⁻_gpts]: y⁺ / y⁻ with every word swapped
  for its synonym (same meaning, other words).
- chosen_gptformat / reject_gptformat [y⁺_gptf / y⁻_gptf]: same format, other (random) words.
- irr_train [y⁺_{j≠u}]: the chosen response of the next training prompt.
- irr_test [y⁺_test]: the chosen response of a held-out prompt (a separate random stream).
- irr_hum [y_hum]: a fluent English sentence from `SENTENCES`.
- random_permute [y⁺_urnd]: the words of y⁺ shuffled.  random_nonhum [y_rnd]: irr_test shuffled.

chosen_initial and chosen_selfr need a model, so the synthetic task has none.
"""

from __future__ import annotations

import numpy as np

from llm_validation.sources.examples import Example

SYNONYMS = {
    "red": "crimson",
    "blue": "azure",
    "green": "emerald",
    "cat": "kitty",
    "dog": "puppy",
    "big": "large",
    "small": "tiny",
    "fast": "quick",
    "happy": "glad",
    "cold": "chilly",
    "house": "home",
    "road": "street",
}
WORDS = tuple(SYNONYMS)
CANONICAL = {**{w: w for w in WORDS}, **{s: w for w, s in SYNONYMS.items()}}
VERBS = {
    "repeat": lambda items: list(items),
    "reverse": lambda items: list(reversed(items)),
    "sort": lambda items: sorted(items),
}
SENTENCES = (
    "The weather was pleasant enough for a long walk by the river.",
    "She finished the book late at night and fell asleep at once.",
    "Our neighbours planted tomatoes along the fence this spring.",
    "The train was delayed, so we shared a pot of tea at the station.",
    "He learned to play the violin when he was already retired.",
    "A quiet library is the best place to think about hard problems.",
    "The children built a small boat out of paper and string.",
    "Fresh bread from the corner bakery sells out before noon.",
)


def make_prompt(verb: str, items: list[str]) -> str:
    """x for VERB applied to ITEMS."""
    return f"\n\nHuman: {verb} {' '.join(items)}\n\nAssistant:"


def parse_prompt(prompt: str) -> tuple[str, list[str]]:
    """Inverse of `make_prompt`: (VERB, ITEMS) of the last Human turn."""
    human = prompt.rsplit("Human:", 1)[-1].split("\n\nAssistant:")[0].split()
    return human[0], human[1:]


def target(prompt: str) -> list[str]:
    """t: the correct answer's canonical words for prompt x."""
    verb, items = parse_prompt(prompt)
    return VERBS[verb]([CANONICAL.get(w, w) for w in items])


def reward(prompt: str, response: str) -> float:
    """Ground truth r(x, y) = #{i : canon(y_i) = t_i} / max(|y|, |t|) ∈ [0, 1]."""
    t = target(prompt)
    y = [CANONICAL.get(w, w) for w in response.split()]
    hits = sum(a == b for a, b in zip(y, t, strict=False))
    return hits / max(len(y), len(t), 1)


def _as_response(words: list[str]) -> str:
    return " " + " ".join(words)


def _corrupt(words: list[str], rng: np.random.Generator) -> list[str]:
    """Replace 1-2 positions with a different word (so the reward drops below 1)."""
    out = list(words)
    for i in rng.choice(len(out), size=int(rng.integers(1, 3)), replace=False):
        out[i] = str(rng.choice([w for w in WORDS if w != out[i]]))
    return out


def _shuffled(words: list[str], rng: np.random.Generator) -> list[str]:
    """A permutation that differs from `words` whenever the words are not all equal."""
    for _ in range(10):
        perm = [words[i] for i in rng.permutation(len(words))]
        if perm != words:
            return perm
    return perm


def _draw_task(rng: np.random.Generator) -> tuple[str, list[str]]:
    verb = str(rng.choice(list(VERBS)))
    items = [str(w) for w in rng.choice(WORDS, size=int(rng.integers(3, 6)))]
    return verb, items


def generate(n: int, seed: int = 0) -> list[Example]:
    """n synthetic probe examples with every rule-built probe type; deterministic given seed."""
    rng = np.random.default_rng(seed)
    test_rng = np.random.default_rng([seed, 1])
    tasks = [_draw_task(rng) for _ in range(n)]
    answers = [VERBS[v](items) for v, items in tasks]
    examples = []
    for u, ((verb, items), y_pos) in enumerate(zip(tasks, answers, strict=True)):
        y_neg = _corrupt(y_pos, rng)
        y_test = VERBS[verb](_draw_task(test_rng)[1])
        other = [str(w) for w in rng.choice(WORDS, size=len(y_pos))]
        responses = {
            "chosen": y_pos,
            "rejected": y_neg,
            "chosen_gptsemantic": [SYNONYMS[w] for w in y_pos],
            "reject_gptsemantic": [SYNONYMS[w] for w in y_neg],
            "chosen_gptformat": other,
            "reject_gptformat": _corrupt(other, rng),
            "irr_train": answers[(u + 1) % n],
            "irr_test": y_test,
            "random_permute": _shuffled(y_pos, rng),
            "random_nonhum": _shuffled(y_test, rng),
        }
        texts = {k: _as_response(v) for k, v in responses.items()}
        texts["irr_hum"] = " " + SENTENCES[int(rng.integers(len(SENTENCES)))]
        examples.append(Example(make_prompt(verb, items), texts, f"synthetic:{u}"))
    return examples


def corpus(seed: int = 0) -> list[str]:
    """Text for training the tiny models' BPE tokenizer: synthetic prompts, responses and
    the English sentences (the byte-level alphabet covers everything else)."""
    texts = [ex.prompt + r for ex in generate(200, seed) for r in ex.responses.values()]
    return texts + list(SENTENCES)
