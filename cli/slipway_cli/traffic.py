"""Customers calling a model's HTTP API in every environment at once, in the background, as production traffic
keeps flowing while a loop runs (a retraining, its canaries): what the demo and the loop's tests serve."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from slipway_cli import serving
from slipway_cli.target import Target

__all__ = ["live_traffic"]

Rows = Callable[[int], list[dict[str, Any]]]


@contextmanager
def live_traffic(
    urls: dict[str, str], targets: dict[str, Target], model: str, rows: Rows, pause_s: float = 0.2
) -> Iterator[dict[str, int]]:
    """Until the block ends, one client calls ``POST /v1/models/<model>/predict`` of each environment in turn
    with ``rows(k)`` (k = 1, 2, …), pausing ``pause_s`` between rounds; yields rows answered per environment.
    A refused or failed request is counted under ``"<env> errors"`` and the traffic goes on."""
    stop, served = threading.Event(), {env: 0 for env in urls}

    def call() -> None:
        k = 0
        while not stop.is_set():
            k += 1
            for env, url in urls.items():
                batch = rows(k)
                try:
                    serving.post_json(targets[env], f"{url}/v1/models/{model}/predict", {"instances": batch})
                    served[env] += len(batch)
                except (serving.HttpApiError, OSError):
                    served[f"{env} errors"] = served.get(f"{env} errors", 0) + 1
            stop.wait(pause_s)

    caller = threading.Thread(target=call, name=f"traffic-{model}", daemon=True)
    caller.start()
    try:
        yield served
    finally:
        stop.set()
        caller.join(timeout=30)
