"""Progress for people and for logs: a bar on a terminal, plain lines in a log file.

`progress(total, desc)` gives an object with `update(n)`, `set_postfix(**values)` and `close()`,
chosen by the mode (`--progress`, `set_mode`):

    bar    a tqdm bar on stderr (redrawn in place with \\r: for a terminal)
    lines  one plain line every `EVERY` of the total (and at the end): step, the postfix values
           (the loss), elapsed time and ETA; never a \\r or a cursor escape
    off    nothing
    auto   bar when stderr is a terminal, else lines (the default)

`TQDM_DISABLE` (tqdm's own switch) turns every bar off. A nested progress (scoring inside a
training step) is a bar only in bar mode: in a log its lines would drown the outer ones.
`say(message)` prints a report on its own line, even while a bar is drawn.
"""

from __future__ import annotations

import os
import sys
import time

MODES = ("auto", "bar", "lines", "off")
EVERY = 0.05  # a line every 5 % of the total
_mode = "auto"


# Other libraries' bar switches, read when each is first imported: tqdm's own (trl's and
# transformers' bars are tqdm bars) and the Hugging Face libraries'.
LIBRARY_BAR_SWITCHES = (
    "TQDM_DISABLE",
    "HF_HUB_DISABLE_PROGRESS_BARS",
    "HF_DATASETS_DISABLE_PROGRESS_BARS",
)


def set_mode(mode: str) -> None:
    """The mode of every later `progress` (the CLIs set it from --progress); outside bar mode the
    libraries (tqdm, so trl and transformers; datasets, the hub client) are asked to draw no bars
    (effective when they are imported later, as in the CLIs)."""
    global _mode
    if mode not in MODES:
        raise ValueError(f"progress mode must be one of {', '.join(MODES)}, got {mode!r}")
    _mode = mode
    if resolved() != "bar":
        for switch in LIBRARY_BAR_SWITCHES:
            os.environ.setdefault(switch, "1")


def resolved(mode: str | None = None) -> str:
    """`bar`, `lines` or `off` for `mode` (default: the one set), on this process's stderr."""
    mode = mode or _mode
    if mode == "auto":
        mode = "bar" if sys.stderr.isatty() else "lines"
    if mode == "bar" and os.environ.get("TQDM_DISABLE", "").lower() not in ("", "0", "false"):
        return "off"
    return mode


def clock(seconds: float) -> str:
    """`m:ss`, or `h:mm:ss` from an hour on."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Lines:
    """`desc: step n/N (p%), loss=…, elapsed m:ss, ETA m:ss` every `every` of the total."""

    def __init__(
        self, total: int, desc: str, unit="step", initial=0, every: float = EVERY, file=None
    ):
        self.total, self.desc, self.unit, self.n, self.start_n = total, desc, unit, initial, initial
        self.every, self.file = max(1, round(total * every)), file or sys.stderr
        self.postfix: dict[str, object] = {}
        self.started, self.last = time.monotonic(), initial

    def set_postfix(self, **values) -> None:
        self.postfix = values

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.n - self.last >= self.every or self.n == self.total:
            self.last = self.n
            self.file.write(self.line() + "\n")
            self.file.flush()

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        done = self.n - self.start_n
        eta = elapsed / done * (self.total - self.n) if done else float("nan")
        parts = [
            f"{self.desc}: {self.unit} {self.n}/{self.total} ({100 * self.n / max(self.total, 1):.0f}%)"
        ]
        parts += [f"{k}={v}" for k, v in self.postfix.items()]
        parts += [f"elapsed {clock(elapsed)}", f"ETA {clock(eta) if done else '?'}"]
        return ", ".join(parts)

    def close(self) -> None:
        pass


class Off:
    """No progress."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, **values) -> None:
        pass

    def close(self) -> None:
        pass


def progress(total: int, desc: str, unit: str = "step", initial: int = 0, nested: bool = False):
    """A progress display for `total` units in the current mode (see the module doc)."""
    mode = resolved()
    if mode == "bar":
        from tqdm.auto import tqdm

        return tqdm(
            total=total, initial=initial, desc=desc, unit=unit, file=sys.stderr, leave=not nested
        )
    if mode == "lines" and not nested:
        return Lines(total, desc, unit, initial)
    return Off()


def say(message: str) -> None:
    """`message` on stderr on its own line, also while a tqdm bar is drawn."""
    if "tqdm" in sys.modules:
        from tqdm.auto import tqdm

        tqdm.write(message, file=sys.stderr)
    else:
        print(message, file=sys.stderr)
