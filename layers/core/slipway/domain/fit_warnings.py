"""The warnings a candidate raises while it fits and is scored (a solver that did not converge, an overflow), kept
for its record instead of the console. Per thread: the local cloud runs a Map's iterations as threads of one
process, and ``warnings.catch_warnings`` swaps process-global state, so overlapping uses from two threads would
restore each other's state and mix their warnings."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TextIO

__all__ = ["CaughtWarning", "caught_warnings", "warning_texts"]

MAX_TEXT = 500  # characters of one warning kept
MAX_WARNINGS = 20  # distinct warnings kept per candidate


@dataclass(frozen=True)
class CaughtWarning:
    """One warning: its class (and whether it is one of the numerical kinds) and its text, on one line."""

    category: type[Warning]
    message: str

    @property
    def text(self) -> str:
        line = " ".join(f"{self.category.__name__}: {self.message}".split())
        return line if len(line) <= MAX_TEXT else line[: MAX_TEXT - 1] + "…"


_lock = threading.Lock()
_local = threading.local()
_users = 0
_context: Any = None  # the process-wide catch_warnings entered while any thread collects
_outer_show: Any = None  # the showwarning in place before it: what other threads' warnings go to


def _show(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    sink: list[CaughtWarning] | None = getattr(_local, "sink", None)
    if sink is None:
        _outer_show(message, category, filename, lineno, file, line)
        return
    sink.append(CaughtWarning(category, str(message)))


def _enter() -> None:
    global _users, _context, _outer_show
    with _lock:
        if _users == 0:
            _context = warnings.catch_warnings()
            _context.__enter__()
            _outer_show = warnings.showwarning
            warnings.simplefilter("always")  # every occurrence, not once per code location and process
            warnings.showwarning = _show
        _users += 1


def _leave() -> None:
    global _users, _context
    with _lock:
        _users -= 1
        if _users == 0:
            _context.__exit__(None, None, None)
            _context = None


@contextmanager
def caught_warnings() -> Iterator[list[CaughtWarning]]:
    """Collect the warnings raised in this thread inside the block, in order, without printing them (other
    threads' warnings are still shown, every occurrence while a collection runs)."""
    caught: list[CaughtWarning] = []
    _enter()
    outer = getattr(_local, "sink", None)
    _local.sink = caught
    try:
        yield caught
    finally:
        _local.sink = outer
        _leave()


def warning_texts(caught: list[CaughtWarning]) -> list[str]:
    """The distinct warnings' texts in the order first raised, at most ``MAX_WARNINGS``."""
    return list(dict.fromkeys(w.text for w in caught))[:MAX_WARNINGS]
