"""The local cloud's EnvironmentGate: in-process invocations share os.environ by turns."""

from __future__ import annotations

import os
import threading

from slipway_local.lambda_runtime import EnvironmentGate


def test_invocations_with_the_same_environment_run_together() -> None:
    gate = EnvironmentGate()
    both_inside = threading.Barrier(2, timeout=5)
    seen: list[str | None] = []

    def invoke() -> None:
        with gate.use({"SLIPWAY_GATE_TEST": "train"}):
            both_inside.wait()  # would time out if the second had to wait for the first
            seen.append(os.environ.get("SLIPWAY_GATE_TEST"))

    threads = [threading.Thread(target=invoke) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert seen == ["train", "train"]
    assert "SLIPWAY_GATE_TEST" not in os.environ


def test_a_different_environment_waits_and_the_previous_values_come_back() -> None:
    gate = EnvironmentGate()
    os.environ["SLIPWAY_GATE_TEST"] = "before"
    try:
        first_inside, release_first = threading.Event(), threading.Event()
        seen: list[str | None] = []

        def first() -> None:
            with gate.use({"SLIPWAY_GATE_TEST": "validate"}):
                first_inside.set()
                release_first.wait(timeout=5)
                seen.append(os.environ["SLIPWAY_GATE_TEST"])

        def second() -> None:
            with gate.use({"SLIPWAY_GATE_TEST": "register"}):
                seen.append(os.environ["SLIPWAY_GATE_TEST"])

        a = threading.Thread(target=first)
        a.start()
        assert first_inside.wait(timeout=5)
        b = threading.Thread(target=second)
        b.start()
        b.join(timeout=0.2)
        assert b.is_alive()  # waiting for the environment, not running with the wrong one
        release_first.set()
        a.join(timeout=5)
        b.join(timeout=5)
        assert seen == ["validate", "register"]
        assert os.environ["SLIPWAY_GATE_TEST"] == "before"
    finally:
        del os.environ["SLIPWAY_GATE_TEST"]
