"""The timed calls of several processes taken in turns, one call at a time (bench_features.py sends each process
a line when its turn comes and waits for its answer), so every tool meets the same machine over the run and never
shares the endpoint with another. Standard library only: imported by the slipway side and by Feast's, each in its
own venv."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any


def turns(items: list[Any]) -> Iterator[tuple[int, Any]]:
    """Each (index, item) when its turn comes. The turns go over the process's real stdout; anything the tool
    prints goes to stderr instead."""
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = sys.stderr
    channel.write("ready\n")
    for n, item in enumerate(items):
        if sys.stdin.readline() != "go\n":
            raise SystemExit("the bench stopped giving turns")
        yield n, item
        channel.write("done\n")
    sys.stdin.read()  # until the bench closes the turns, after every process's last call: what follows is untimed
    channel.close()
