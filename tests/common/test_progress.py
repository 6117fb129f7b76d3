"""Progress for people and for logs: bars only on a terminal, plain lines in a file."""

import io

import pytest

from common import progress


@pytest.fixture(autouse=True)
def auto_mode(monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    yield
    progress.set_mode("auto")


class Stderr(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


@pytest.mark.parametrize(
    "mode, tty, disable, expected",
    [
        ("auto", True, None, "bar"),
        ("auto", False, None, "lines"),
        ("auto", True, "1", "off"),  # TQDM_DISABLE turns bars off
        ("bar", False, None, "bar"),
        ("bar", True, "1", "off"),
        ("lines", True, None, "lines"),
        ("lines", True, "1", "lines"),  # plain lines are no tqdm bar
        ("off", True, None, "off"),
    ],
)
def test_the_mode_resolves_by_terminal_and_tqdm_disable(monkeypatch, mode, tty, disable, expected):
    monkeypatch.setattr("sys.stderr", Stderr(tty))
    if disable:
        monkeypatch.setenv("TQDM_DISABLE", disable)
    assert progress.resolved(mode) == expected


def test_lines_print_every_5_percent_with_step_loss_elapsed_and_eta_and_no_carriage_return():
    out = io.StringIO()
    bar = progress.Lines(40, "dpo", file=out)
    for step in range(40):
        bar.set_postfix(loss=f"{0.69 - step / 100:.3g}")
        bar.update(1)
    lines = out.getvalue().splitlines()
    assert len(lines) == 20  # 5 % of 40 steps = every 2 steps
    assert lines[0].startswith("dpo: step 2/40 (5%), loss=0.68, elapsed 0:00, ETA ")
    assert lines[-1].startswith("dpo: step 40/40 (100%), loss=0.3, elapsed ")
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()


def test_a_resumed_count_starts_at_its_initial_step_and_ends_with_the_last():
    out = io.StringIO()
    bar = progress.Lines(10, "sft", initial=6, file=out)
    for _ in range(4):
        bar.update(1)
    assert out.getvalue().splitlines()[-1].startswith("sft: step 10/10 (100%)")


def test_nested_progress_is_silent_outside_bar_mode(monkeypatch):
    monkeypatch.setattr("sys.stderr", Stderr(False))
    assert isinstance(progress.progress(10, "scoring", nested=True), progress.Off)
    assert isinstance(progress.progress(10, "run"), progress.Lines)
    progress.set_mode("off")
    assert isinstance(progress.progress(10, "run"), progress.Off)


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="auto, bar, lines, off"):
        progress.set_mode("fancy")


@pytest.mark.parametrize("seconds, text", [(0, "0:00"), (59.6, "1:00"), (3661, "1:01:01")])
def test_clock(seconds, text):
    assert progress.clock(seconds) == text
