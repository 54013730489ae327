"""One bounded poll for everything that waits on the local cloud (executions, files, servers):
back off from 20 ms to 250 ms, and fail with a clear TimeoutError instead of hanging."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll[T](check: Callable[[], T | None], *, timeout_s: float, what: str) -> T:
    """Call ``check`` until it returns something other than None; at most ``timeout_s`` seconds."""
    deadline = time.monotonic() + timeout_s
    delay = 0.02
    while True:
        value = check()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} after {timeout_s:g} s")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)
