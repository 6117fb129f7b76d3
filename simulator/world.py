"""A seeded synthetic probe world: a tiny language, prompts, and the paper's probe responses.

The language (all choices drawn from one np.random.Generator at `build_world`):

- Vocabulary, Shape (V,): K concepts with two surface forms each (a common and a rare synonym,
  tokens 2k and 2k+1), the format tokens of two templates ("assistant" and "human", one token per
  format slot), and junk tokens that no fluent text uses (V − 2K − 2F of them: the valleys). The
  junk tokens carry a fixed Zipf prior logit b_v = junk_logit − junk_zipf·log(rank) (language
  tokens 0), like the long tail of a real LM's vocabulary (`prior_logits`).
- A response has fixed length L. Format slots sit at positions {0, ⌊L/2⌋, L−1}; the other
  positions carry content. Content follows a Markov chain over concepts: each concept has
  `len(branching)` successors, and a token uses the rare surface form with some probability.
- Two speakers use the chain. The pretraining corpus speaks it peakily (`branching`,
  `synonym_rate`), so π₀ learns its mode. The probes' writer (who writes y⁺, y⁻ and their
  rephrases, like the humans and GPT-4 behind preference data) picks successors and synonyms
  more evenly (`writer_branching`, `writer_synonym_rate`): fluent but not greedy, so at π₀ the
  chosen response has a mean per-token probability of about 0.3 and is the argmax at about a third
  of its positions (the official logs: 0.31 on Pythia-410M, 0.34 on Qwen1.5-0.5B).
- A prompt x has a topic; its embedding is the topic's vector plus noise, and its answer starts
  at one of the topic's start concepts. Training prompts, held-out test prompts and the corpus
  prompts of pretraining are disjoint.

Context features φ(χ), χ = (x, y_<l), Shape (d,), concatenate (scales in `WorldConfig`):
  bias (1), prompt embedding p(x), format slot one-hot (template read from y_1 × position l),
  concept one-hot of the last content token in y_<l, surface one-hot of that token.
So the linear kernel k(χ, χ′) = φ·φ′ is a sum of a shared bias, a shared prompt, a shared format
slot and shared content: each of the paper's similarities is one term.

Probe types, per training prompt x_u (field names of the paper's probing files):
  chosen y⁺ and rejected y⁻: two of the writer's chain samples from x_u's topic in the assistant
  template that share their opening: y⁻ copies y⁺'s first ⌊shared_opening·(L − 3)⌋ content tokens
  (10 of 13 by default) and continues its own chain from there, like the HH pairs that share
  the prompt, the format and many words (same format, different content at the end); *_gptsemantic: every content token swapped to its synonym (same
  concepts, other surface tokens); *_gptformat: assistant format around a chain sample from another
  topic (same format, other content); irr_train: y⁺ of the next training prompt; irr_test: y⁺ of a
  held-out prompt; irr_hum: a fluent chain sample in the human template; random_permute: y⁺'s
  tokens shuffled; random_nonhum: uniform random tokens. chosen_initial (a sample of the initial
  model) and y_star (the teacher-forced argmax along y⁺) depend on the model: see `sequences`.

The ground-truth reward that ranks on-policy samples (`World.reward`) is a fixed rule over format
and concepts, blind to the probes: y⁺ scores its maximum without defining it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy import sparse

from common.probes import FIXED_TYPES

FIXED_PROBES = FIXED_TYPES  # the probe types written by rule (`common.probes`)
ASSISTANT, HUMAN = 0, 1
CORPUS, WRITER = "", "writer_"  # prefixes of the two speakers' WorldConfig fields
N_FORMAT = 3  # format slots per response, at positions {0, ⌊L/2⌋, L−1}


def _help(text: str, default):
    return field(default=default, metadata={"help": text})


@dataclass(frozen=True)
class WorldConfig:
    """The world's size and structure; every field is a knob the docs discuss."""

    vocab: int = _help("V, the vocabulary size (junk tokens fill what the language leaves)", 1024)
    length: int = _help("L, the length of every response (≥ 4)", 16)
    n_concepts: int = _help("K, concepts of the language (2K content tokens)", 24)
    n_topics: int = _help("topics; a prompt's topic picks where its answer starts", 4)
    branching: tuple = _help(
        "successor probabilities of the corpus's concept chain: peaky content",
        (0.6, 0.25, 0.1, 0.05),
    )
    synonym_rate: float = _help("probability a corpus content token uses its rare synonym", 0.15)
    writer_branching: tuple = _help(
        "successor probabilities of the probes' writer (y⁺, y⁻, rephrases): fluent, not greedy",
        (0.3, 0.3, 0.2, 0.2),
    )
    writer_synonym_rate: float = _help("probability a probe's content token is the synonym", 0.4)
    shared_opening: float = _help(
        "share of y⁺'s content tokens that y⁻ copies at its start, rounded down, at most all but "
        "the last (HH pairs share prompt, format and many words): 0.8 of 13 is 10",
        0.8,
    )
    junk_logit: float = _help("prior logit of the commonest junk token (language tokens: 0)", 0.0)
    junk_zipf: float = _help("Zipf exponent of the junk tail: prior logit −zipf·log(rank)", 1.0)
    n_train: int = _help("training prompts x_u (probes are scored on these)", 8)
    n_test: int = _help("held-out prompts, the source of irr_test", 8)
    n_corpus: int = _help("pretraining prompts", 64)
    corpus_responses: int = _help("fluent assistant responses per pretraining prompt", 2)
    corpus_human: int = _help("fluent human-template sentences in the pretraining corpus", 32)
    prompt_dim: int = _help("dimension of the prompt embedding p(x)", 8)
    topic_weight: float = _help("share of the topic vector in p(x) (rest is noise)", 0.7)
    bias_scale: float = _help("feature scale of the shared bias: similarity of all contexts", 0.2)
    prompt_scale: float = _help("feature scale of p(x): similarity from a shared prompt", 1.0)
    format_scale: float = _help("feature scale of the format slot: shared format", 1.0)
    content_scale: float = _help("feature scale of the last content concept: shared content", 1.0)
    surface_scale: float = _help("feature scale of the last content token's surface form", 0.3)
    concept_share: float = _help(
        "s in the readout E = [I, s·C]: synonyms share s²/(1+s²) of their output kernel", 2.0
    )
    pretrain_steps: int = _help("full-batch SFT steps on the corpus that make π₀ peaky", 200)
    pretrain_lr: float = _help("step size of pretraining (stable: see test_probe_world)", 1.0)

    def check(self) -> None:
        """Raise ValueError on a world that cannot be built."""
        if self.length < 4:
            raise ValueError(f"length must be ≥ 4, got {self.length}")
        if self.vocab < 2 * self.n_concepts + 6:
            raise ValueError(
                f"vocab must be ≥ 2K + 6 = {2 * self.n_concepts + 6}, got {self.vocab}"
            )
        for name in ("branching", "writer_branching"):
            probs = getattr(self, name)
            if not np.isclose(sum(probs), 1.0) or len(probs) >= self.n_concepts:
                raise ValueError(
                    f"{name} must be probabilities summing to 1, fewer than n_concepts"
                )
        if not 0.0 <= self.shared_opening <= 1.0:
            raise ValueError(f"shared_opening must be in [0, 1], got {self.shared_opening}")
        if len(self.writer_branching) != len(self.branching):
            raise ValueError("writer_branching must have one probability per successor")


@dataclass(frozen=True)
class World:
    """Everything drawn at build time. Token ids index the vocabulary; prompt ids index p_emb.

    concept_of: (V,) concept of a token, −1 for format and junk tokens.
    template:   (2, 3) format token of each template at each format slot.
    slots:      (L,) format slot index of each position, −1 for content positions.
    successors: (K, b) successor concepts; start: (topics, b) start concepts.
    p_emb:      (P, prompt_dim) unit prompt embeddings; topic: (P,) their topics.
    train, test, corpus: prompt ids. probes: name → (n_train, L) tokens, scored under x_u.
    corpus_prompts, corpus_tokens: the pretraining corpus, (R,) and (R, L).
    """

    cfg: WorldConfig
    concept_of: np.ndarray
    template: np.ndarray
    slots: np.ndarray
    successors: np.ndarray
    start: np.ndarray
    p_emb: np.ndarray
    topic: np.ndarray
    train: np.ndarray
    test: np.ndarray
    corpus: np.ndarray
    probes: dict
    corpus_prompts: np.ndarray
    corpus_tokens: np.ndarray

    @property
    def vocab(self) -> int:
        return self.concept_of.size

    @property
    def n_concepts(self) -> int:
        return self.successors.shape[0]

    @property
    def n_language(self) -> int:
        """Tokens that fluent text uses: 2K content and 2·N_FORMAT format tokens (ids 0 … 2K + 5);
        the rest are junk."""
        return 2 * self.n_concepts + 2 * N_FORMAT

    def prior_logits(self) -> np.ndarray:
        """b: 0 on language tokens and a Zipf tail on junk, b_v = junk_logit − junk_zipf·log(rank_v)
        with rank 1, 2, … in id order: the commonest junk token has π₀ ≈ e^{junk_logit} × a
        language token's. Shape: (V,)."""
        rank = np.arange(1, self.vocab - self.n_language + 1)
        junk = self.cfg.junk_logit - self.cfg.junk_zipf * np.log(rank)
        return np.concatenate([np.zeros(self.n_language), junk])

    @property
    def feature_dim(self) -> int:
        return (
            1
            + self.cfg.prompt_dim * self.cfg.length
            + 4 * self.cfg.length
            + (self.n_concepts + 1)
            + 2 * self.n_concepts
        )

    def output_embedding(self) -> sparse.csr_array:
        """E = [I_V, s·C], C the (V, K) token→concept one-hot: z = E M φ. Shape: (V, V + K).

        Sparse, so that products with E stay cheap and never call a threaded BLAS.
        """
        content = np.flatnonzero(self.concept_of >= 0)
        c = sparse.csr_array(
            (np.ones(content.size), (content, self.concept_of[content])),
            shape=(self.vocab, self.n_concepts),
        )
        return sparse.hstack(
            [sparse.eye_array(self.vocab), self.cfg.concept_share * c], format="csr"
        )

    def features(
        self, prompts: np.ndarray, tokens: np.ndarray, at: np.ndarray | None = None
    ) -> np.ndarray:
        """φ(x, y_<l) for every position l of every response; position l reads only y_<l.

        A prefix of the responses (R, l ≤ L) gives the features of its first l positions; `at`
        keeps only the positions listed (sampling reads one position at a time).
        Shape: prompts (R,), tokens (R, L) → (R, L, d), or (R, len(at), d).
        """
        cfg, k, length = self.cfg, self.n_concepts, self.cfg.length
        r, n_pos = tokens.shape
        pos = np.arange(n_pos)
        template_of = np.zeros(self.vocab, dtype=int)  # 0 none, 1 assistant, 2 human
        template_of[self.template[ASSISTANT]], template_of[self.template[HUMAN]] = 1, 2
        tmpl = template_of[tokens[:, :1]]  # (R, 1): the template y_1 opens
        tmpl = np.where(pos[None, :] == 0, 0, tmpl)  # (R, l)
        is_content = self.concept_of[tokens] >= 0  # (R, L)
        idx = np.where(is_content, pos[None, :], -1)
        last = np.maximum.accumulate(idx, axis=1)  # last content position ≤ l
        last = np.hstack([np.full((r, 1), -1), last[:, :-1]])  # … < l
        last_tok = np.take_along_axis(tokens, np.maximum(last, 0), axis=1)
        has = last >= 0
        concept = np.where(has, self.concept_of[last_tok], k)  # k = "no content yet"
        surface = np.where(has, last_tok % 2, 0)
        if at is not None:
            pos, tmpl, concept, surface, has = (
                pos[at],
                tmpl[:, at],
                concept[:, at],
                surface[:, at],
                has[:, at],
            )
            n_pos = pos.size

        phi = np.zeros((r, n_pos, self.feature_dim))
        ri, li = np.indices((r, n_pos))
        phi[:, :, 0] = cfg.bias_scale
        o = 1
        block = o + pos[:, None] * cfg.prompt_dim + np.arange(cfg.prompt_dim)  # (L, prompt_dim)
        phi[ri[:, :, None], li[:, :, None], block[None]] = np.broadcast_to(
            cfg.prompt_scale * self.p_emb[prompts][:, None, :], (r, n_pos, cfg.prompt_dim)
        )  # p(x) ⊗ e_l: the prompt as read at position l
        o += cfg.prompt_dim * length
        phi[ri, li, o + pos[None, :]] = cfg.format_scale
        o += length
        phi[ri, li, o + tmpl * length + pos[None, :]] = cfg.format_scale
        o += 3 * length
        phi[ri, li, o + concept] = cfg.content_scale
        o += k + 1
        surf = o + 2 * np.where(has, concept, 0) + surface
        phi[ri[has], li[has], surf[has]] = cfg.surface_scale
        return phi

    def reward(self, prompts: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        """Ground-truth reward r(y|x): a fixed scoring rule over format and concepts, blind to the
        probe responses. One point per format slot holding the assistant template's token, and one
        per content position whose concept may follow the last content concept before it (a
        successor in the chain; at the first content position, a start concept of x's topic). Shape: (R,).

        Every fluent assistant response scores L, y⁺ among them, so y⁺ satisfies the rule
        without defining it (the old reward counted matches with y⁺). prompts: prompt ids (R,).
        """
        fmt = self.slots >= 0
        score = np.sum(tokens[:, fmt] == self.template[ASSISTANT][self.slots[fmt]], axis=1)
        allowed = self.start[self.topic[prompts]]  # (R, b): concepts that may come next
        for pos in np.flatnonzero(~fmt):
            concept = self.concept_of[tokens[:, pos]]  # −1 for format and junk
            ok = np.any(concept[:, None] == allowed, axis=1) & (concept >= 0)
            score += ok
            content = (concept >= 0)[:, None]
            allowed = np.where(content, self.successors[np.maximum(concept, 0)], allowed)
        return score.astype(float)


def _canon(world: World, tokens: np.ndarray) -> np.ndarray:
    """Tokens with every content token mapped to its common surface form."""
    return np.where(world.concept_of[tokens] >= 0, tokens - tokens % 2, tokens)


def build_world(cfg: WorldConfig, rng: np.random.Generator) -> World:
    """Draw the language, the prompts, the probes and the pretraining corpus."""
    cfg.check()
    k, length, b = cfg.n_concepts, cfg.length, len(cfg.branching)
    concept_of = np.full(cfg.vocab, -1)
    concept_of[: 2 * k] = np.arange(2 * k) // 2
    template = 2 * k + np.arange(2 * N_FORMAT).reshape(2, N_FORMAT)
    slots = np.full(length, -1)
    slots[[0, length // 2, length - 1]] = np.arange(N_FORMAT)
    successors = np.stack(
        [rng.choice(np.delete(np.arange(k), c), b, replace=False) for c in range(k)]
    )
    start = np.stack([rng.choice(k, b, replace=False) for _ in range(cfg.n_topics)])

    n_prompts = cfg.n_train + cfg.n_test + cfg.n_corpus
    topic = rng.integers(cfg.n_topics, size=n_prompts)
    topic_vec = _unit(rng.standard_normal((cfg.n_topics, cfg.prompt_dim)))
    noise = _unit(rng.standard_normal((n_prompts, cfg.prompt_dim)))
    p_emb = _unit(
        np.sqrt(cfg.topic_weight) * topic_vec[topic] + np.sqrt(1 - cfg.topic_weight) * noise
    )
    train = np.arange(cfg.n_train)
    test = cfg.n_train + np.arange(cfg.n_test)
    corpus = cfg.n_train + cfg.n_test + np.arange(cfg.n_corpus)

    partial = World(
        cfg,
        concept_of,
        template,
        slots,
        successors,
        start,
        p_emb,
        topic,
        train,
        test,
        corpus,
        {},
        np.zeros(0, int),
        np.zeros((0, length), int),
    )
    write = lambda topics, tmpl: _fluent(partial, rng, topics, tmpl, WRITER)
    t_u = topic[train]
    chosen = write(t_u, ASSISTANT)
    rejected = _differing(partial, rng, chosen, t_u)
    other = (t_u + 1 + rng.integers(cfg.n_topics - 1, size=t_u.size)) % cfg.n_topics
    test_chosen = write(topic[test], ASSISTANT)
    probes = {
        "chosen": chosen,
        "rejected": rejected,
        "chosen_gptsemantic": _swap_synonyms(partial, chosen),
        "reject_gptsemantic": _swap_synonyms(partial, rejected),
        "chosen_gptformat": write(other, ASSISTANT),
        "reject_gptformat": write(other, ASSISTANT),
        "irr_train": np.roll(chosen, -1, axis=0),
        "irr_test": test_chosen[np.arange(cfg.n_train) % cfg.n_test],
        "irr_hum": write(rng.integers(cfg.n_topics, size=t_u.size), HUMAN),
        "random_permute": rng.permuted(chosen, axis=1),
        "random_nonhum": rng.integers(cfg.vocab, size=chosen.shape),
    }
    corpus_prompts = np.concatenate(
        [np.repeat(corpus, cfg.corpus_responses), rng.choice(corpus, cfg.corpus_human)]
    )
    n_assist = cfg.n_corpus * cfg.corpus_responses
    speak = lambda topics, tmpl: _fluent(partial, rng, topics, tmpl, CORPUS)
    corpus_tokens = np.vstack(
        [
            speak(topic[corpus_prompts[:n_assist]], ASSISTANT),
            speak(rng.integers(cfg.n_topics, size=cfg.corpus_human), HUMAN),
        ]
    )
    return replace(
        partial, probes=probes, corpus_prompts=corpus_prompts, corpus_tokens=corpus_tokens
    )


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _fluent(
    world: World,
    rng,
    topics: np.ndarray,
    tmpl: int,
    who: str,
    opening: np.ndarray | None = None,
    n_open: int = 0,
) -> np.ndarray:
    """Fluent responses: template tokens at format slots, a concept chain from the topic's start
    in between, each content token the rare synonym with probability synonym_rate. `who` is
    CORPUS (the corpus's branching and synonym rate) or WRITER (the probes'). Given `opening`
    (R, L), the first `n_open` content tokens are copied from it and the chain continues from
    there. Shape: (R, L)."""
    cfg = world.cfg
    probs = np.asarray(getattr(cfg, f"{who}branching"))
    synonym_rate = getattr(cfg, f"{who}synonym_rate")
    r = topics.size
    out = np.empty((r, cfg.length), dtype=int)
    concept = None
    for i, pos in enumerate(np.flatnonzero(world.slots < 0)):
        if i < n_open:
            out[:, pos] = opening[:, pos]
            concept = world.concept_of[opening[:, pos]]
            continue
        pick = rng.choice(probs.size, size=r, p=probs)
        concept = world.start[topics, pick] if concept is None else world.successors[concept, pick]
        out[:, pos] = 2 * concept + (rng.random(r) < synonym_rate)
    fmt = world.slots >= 0
    out[:, fmt] = world.template[tmpl, world.slots[fmt]]
    return out


def _differing(world: World, rng, chosen: np.ndarray, topics: np.ndarray) -> np.ndarray:
    """y⁻: a fluent response from the same topic that opens with y⁺'s first `shared_opening`
    content tokens and whose concepts differ from y⁺'s somewhere after them."""
    n_open = shared_opening_tokens(world.cfg)
    draw = lambda rows: _fluent(world, rng, topics[rows], ASSISTANT, WRITER, chosen[rows], n_open)
    out = draw(np.arange(topics.size))
    for _ in range(100):
        same = np.all(_canon(world, out) == _canon(world, chosen), axis=1)
        if not same.any():
            return out
        out[same] = draw(np.flatnonzero(same))
    raise ValueError("could not draw a rejected response unlike the chosen one; raise n_concepts")


def shared_opening_tokens(cfg: WorldConfig) -> int:
    """How many content tokens y⁻ copies from y⁺: ⌊shared_opening · (L − 3)⌋, at most L − 4, so
    that y⁻ can differ from y⁺ at its last content token at least."""
    n_content = cfg.length - N_FORMAT
    return min(int(np.floor(cfg.shared_opening * n_content)), n_content - 1)


def _swap_synonyms(world: World, tokens: np.ndarray) -> np.ndarray:
    """The semantic rephrase: every content token replaced by its synonym (2k ↔ 2k+1)."""
    return np.where(world.concept_of[tokens] >= 0, tokens ^ 1, tokens)
