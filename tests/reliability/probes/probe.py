"""A Lambda handler for probing the local cloud's runtime: what its execution environment looks like."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

_cold = {"started": time.time()}  # module state survives between invocations of a warm environment


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("started_file"):  # say it is running, then hold until the test releases it (or the Timeout)
        Path(event["started_file"]).touch()
        while not Path(event["release_file"]).exists():
            time.sleep(0.02)
    if event.get("sleep_s"):
        time.sleep(float(event["sleep_s"]))
    if event.get("allocate_mb"):
        held = bytearray(int(event["allocate_mb"]) * 1024 * 1024)
        for i in range(0, len(held), 4096):  # touch every page, so it is resident
            held[i] = 1
        time.sleep(float(event.get("hold_s", 0)))
    return {
        "pid": os.getpid(),
        "flavour": os.environ.get("PROBE_FLAVOUR"),
        "function": context.function_name,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "module_loaded_at": _cold["started"],
        "remaining_ms": context.get_remaining_time_in_millis(),
        "packaging_from": _module_file("packaging.version"),  # the real package, as on Lambda
    }


def _module_file(name: str) -> str:
    import importlib

    return str(importlib.import_module(name).__file__)
