"""`open_inputs`: every command's data, probes, model and truncation from one config, each input
read once and checked before the model loads."""

import pytest

from common.errors import UserError
from llm_validation.config import InfluenceConfig, RunConfig
from llm_validation.sources.examples import Example
from llm_validation.training import inputs
from llm_validation.training.tracking import hold_out, truncation_of

TINY = dict(model="tiny-neox", data="synthetic", limit=6)


@pytest.fixture
def calls(monkeypatch):
    """How often open_inputs loads data, resolves the chat template and loads the model."""
    seen = {"load_examples": 0, "chat_template": 0, "load_model": 0}

    def counted(name):
        original = getattr(inputs, name)

        def wrapper(*args, **kwargs):
            seen[name] += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(inputs, name, wrapper)

    for name in seen:
        counted(name)
    return seen


def test_a_run_reads_its_data_once_and_resolves_the_chat_template_once(calls):
    opened = inputs.open_inputs(RunConfig(**TINY, probe_limit=4))
    assert calls == {"load_examples": 1, "chat_template": 1, "load_model": 1}
    assert len(opened.examples) == 6 and opened.probes == opened.examples[:4]
    assert opened.truncation == truncation_of(RunConfig(**TINY))
    assert set(opened.loads) == {"data"}


def test_a_probe_file_is_the_second_load_under_the_same_chat_template(calls, tmp_path):
    opened = inputs.open_inputs(RunConfig(**TINY, probes="synthetic", probe_offset=2))
    assert calls == {"load_examples": 2, "chat_template": 1, "load_model": 1}
    assert set(opened.loads) == {"data", "probes"}
    assert len(opened.probes) == 128 - 2  # --probes synthetic: its 128 examples, from the third


def test_held_out_probes_are_the_last_examples_and_leave_the_training_data(calls):
    opened = inputs.open_inputs(RunConfig(**TINY, hold_out=2))
    assert len(opened.examples) == 4 and len(opened.probes) == 2
    assert not {ex.prompt for ex in opened.probes} & {ex.prompt for ex in opened.examples}
    assert opened.loads["held_out"] == {"training": 4, "probes": 2, "dropped": 0}


def test_a_held_out_prompt_that_is_also_trained_on_is_dropped_and_counted():
    examples = [Example(p, {"chosen": "a", "rejected": "b"}) for p in "xyzxw"]
    split = hold_out(examples, 2)  # the fourth prompt, "x", is also the first
    assert [ex.prompt for ex in split.training] == ["x", "y", "z"]
    assert [ex.prompt for ex in split.probes] == ["w"] and split.dropped == 1
    assert "1 dropped" in split.line()


@pytest.mark.parametrize(
    "cfg, check",
    [
        (RunConfig(**{**TINY, "probes": "no/such/probes.jsonl"}), None),
        (RunConfig(**{**TINY, "probe_limit": 2, "probe_offset": 6}), None),
        (RunConfig(**{**TINY, "hold_out": 6}), None),
        (RunConfig(**{**TINY, "hold_out": 2, "probes": "synthetic"}), None),
        (InfluenceConfig(**TINY), "check"),
    ],
    ids=[
        "missing probe file",
        "offset past the probes",
        "nothing left to train on",
        "two choices of probes",
        "a command's own check",
    ],
)
def test_every_input_is_checked_before_the_model_loads(calls, cfg, check):
    def refuse(examples):
        raise UserError("rows ['irr_test'] are not a response of every example")

    with pytest.raises(UserError):
        inputs.open_inputs(cfg, check=refuse if check else None)
    assert calls["load_model"] == 0
