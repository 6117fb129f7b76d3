"""On-policy pairs (Sec. 4.4): seeded per step, ranked by the reward, sampled from the kept prompt."""

import pytest

from llm_validation.cli import main
from llm_validation.config import RunConfig
from llm_validation.core.logprobs import Truncation, encode
from llm_validation.sources.examples import Example
from llm_validation.sources.synthetic import generate
from llm_validation.training import onpolicy, train
from llm_validation.training.methods import plan_of

TOKENS = 6  # sampled tokens per response: enough to differ between draws, cheap on CPU


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """onpolicy-dpo on one synthetic prompt, so every step samples for the same prompt."""
    cfg = RunConfig(
        method="onpolicy-dpo",
        model="tiny-neox",
        data="synthetic",
        limit=1,
        probe_limit=1,
        batch_size=1,
        max_new_tokens=TOKENS,
        out=str(tmp_path_factory.mktemp("onpolicy")),
    )
    return train.open_session(cfg)


def _samples(session, step: int):
    (phase,) = plan_of(session.cfg)
    pairs, _ = train.step_batch(session, phase, session.pairs, step, session.cfg.seed, step)
    return [(w.ids, r.ids) for w, r in pairs]


def test_on_policy_sampling_is_a_pure_function_of_the_step(session):
    """Step s draws from a seed mixed from (seed, s): the same step draws the same samples (so a
    resumed run replays them), another step other samples for the same prompt."""
    assert _samples(session, 3) == _samples(session, 3)
    assert _samples(session, 3) != _samples(session, 4)


def _ranked_texts(monkeypatch, session, reward, examples):
    """The (y⁺, y⁻) texts that sample_pairs hands to the tokenizer, per example."""
    seen = []
    tokenize = onpolicy.tokenize_example

    def spy(tokenizer, prompt, responses, truncation):
        seen.append((responses["chosen"], responses["rejected"]))
        return tokenize(tokenizer, prompt, responses, truncation)

    monkeypatch.setattr(onpolicy, "tokenize_example", spy)
    onpolicy.sample_pairs(
        session.model, session.tokenizer, examples, reward, 0, TOKENS, session.truncation
    )
    return seen


def test_the_higher_reward_sample_becomes_the_chosen_response(session, monkeypatch):
    """y⁺ is the sample with the larger reward (here: the longer text, which a random tiny
    model's samples vary in), never the smaller."""
    reward = lambda prompt, response: float(len(response))
    ranked = _ranked_texts(monkeypatch, session, reward, generate(6, seed=1))
    assert all(len(w) >= len(r) for w, r in ranked)
    assert any(len(w) > len(r) for w, r in ranked)  # not all ties: the order was decided


@pytest.mark.parametrize("mode", ["keep_end", "keep_start", "fits"])
def test_the_sampled_prompt_is_cut_as_the_training_truncation_cuts_it(session, monkeypatch, mode):
    """A prompt that leaves no room for max_new_tokens is cut to max_prompt_length tokens before
    sampling, from the end under keep_end (the paper's for HH: the final "Assistant:" turn
    survives) or from the start under keep_start; a prompt that leaves room is kept whole."""
    example = generate(1, seed=2)[0]
    ids = encode(session.tokenizer, example.prompt)
    keep = len(ids) - 3
    room = 100 if mode == "fits" else 0
    truncation = Truncation(
        len(ids) + TOKENS + room, keep, "keep_start" if mode == "keep_start" else "keep_end"
    )
    prompts = []
    generate_fn = session.model.generate

    def spy(input_ids, **kwargs):
        prompts.append(input_ids[0].tolist())
        return generate_fn(input_ids=input_ids, **kwargs)

    monkeypatch.setattr(session.model, "generate", spy)
    onpolicy.sample_pairs(
        session.model, session.tokenizer, [example], lambda p, y: 0.0, 0, TOKENS, truncation
    )
    expected = {"keep_end": ids[-keep:], "keep_start": ids[:keep], "fits": ids}[mode]
    assert prompts == [expected]


def test_pair_overlap_prefers_the_sample_that_reads_like_the_examples_chosen_response():
    example = Example("Q: lunch?", {"chosen": "a green salad please", "rejected": "nothing thanks"})
    reward = onpolicy.load_reward(onpolicy.PAIR_OVERLAP, "prefs.jsonl", [example])
    assert reward(example.prompt, "a salad please") > 0 > reward(example.prompt, "no thanks")
    assert onpolicy.unigram_f1("a b", "a b") == 1.0 and onpolicy.unigram_f1("a", "") == 0.0
    assert reward(example.prompt, "green salad") == pytest.approx(2 * (2 / 2 * 2 / 4) / (1 + 0.5))


def test_on_policy_dpo_without_a_reward_fails_before_any_model_loads(tmp_path, capsys, monkeypatch):
    """Own data and no --reward: one line naming the choices, and no model is loaded."""
    data = tmp_path / "prefs.jsonl"
    data.write_text('{"prompt": "x", "chosen": "a", "rejected": "b"}\n')
    monkeypatch.setattr(train, "load_model", lambda *a, **k: pytest.fail("loaded a model"))
    assert (
        main(["run", "--method", "onpolicy-dpo", "--data", str(data), "--out", str(tmp_path / "r")])
        == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs --reward (pair-overlap or module:function)" in err
    assert main(["run", "--method", "onpolicy-dpo", "--data", str(data), "--reward", "nope:f"]) == 2
    assert "cannot load reward 'nope:f'" in capsys.readouterr().err


def test_a_reward_tie_keeps_the_sampling_order(session, monkeypatch):
    """On-policy tie order: equal rewards make the first sample y⁺, the second y⁻;
    a reward that prefers the second sample swaps them."""
    examples = generate(4, seed=2)
    tied = _ranked_texts(monkeypatch, session, lambda p, r: 0.0, examples)
    monkeypatch.undo()  # the next spy wraps the real tokenize_example, not this one
    order = {}

    def second_wins(prompt, response):  # the first call of each prompt scores sample 1
        order[prompt] = order.get(prompt, 0) + 1
        return float(order[prompt] % 2 == 0)

    swapped = _ranked_texts(monkeypatch, session, second_wins, examples)
    assert [(r, w) for w, r in swapped] == tied
    assert any(w != r for w, r in tied)  # the samples differ: the order is observable


def test_unigram_f1_by_hand():
    """'a b b' vs 'b c': common {b: 1}, precision 1/3, recall 1/2, F1 = 2·(1/6)/(5/6) = 0.4."""
    assert onpolicy.unigram_f1("a b b", "B c") == pytest.approx(0.4)
    assert onpolicy.unigram_f1("", "b") == 0.0 and onpolicy.unigram_f1("a", "b") == 0.0
    assert onpolicy.unigram_f1("x y", "y x") == 1.0
