"""The capture sender: records leave in batches (one sink call for many requests), flush delivers
everything queued, a failing sink never reaches the caller and is counted, a full queue drops."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from slipway.serving.captures import BackgroundCaptures
from tests.fakes import FakeCaptureSink


class CountingSink(FakeCaptureSink):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def put(self, records: Sequence[Mapping[str, Any]]) -> None:
        self.calls += 1
        super().put(records)


class BrokenSink:
    def put(self, records: Sequence[Mapping[str, Any]]) -> None:
        raise ConnectionError("stream unavailable")


def test_many_requests_leave_in_few_calls_and_in_order() -> None:
    # GIVEN a sender that lingers long enough to gather a busy minute's requests
    sink = CountingSink()
    captures = BackgroundCaptures(sink, linger_s=5.0)
    # WHEN 1,200 requests each hand over one record, then the function flushes
    for n in range(1_200):
        captures.offer([{"kind": "captures", "model": "m", "n": n}])
    assert captures.flush(timeout_s=10)
    # THEN every record arrived, in order, in batches of at most 500: 3 calls, not 1,200
    assert [r["n"] for r in sink.records] == list(range(1_200))
    assert sink.calls == 3


def test_a_failing_sink_is_counted_never_raised() -> None:
    captures = BackgroundCaptures(BrokenSink(), linger_s=0.0)
    captures.offer([{"kind": "captures", "model": "m"}] * 3)
    assert captures.flush(timeout_s=10)
    assert captures.failed == 3


def test_a_full_queue_drops_and_counts() -> None:
    sink = CountingSink()
    captures = BackgroundCaptures(sink, max_queued=10, linger_s=5.0)
    captures.offer([{"kind": "captures", "model": "m", "n": n} for n in range(25)])
    assert captures.flush(timeout_s=10)
    assert captures.dropped == 15 and len(sink.records) == 10


def test_close_delivers_stops_the_sender_and_a_later_offer_starts_another() -> None:
    import threading

    # GIVEN records waiting for a sender that would linger for minutes
    sink = CountingSink()
    captures = BackgroundCaptures(sink, linger_s=300.0)
    running = set(threading.enumerate())
    captures.offer([{"kind": "captures", "model": "m", "n": n} for n in range(3)])
    (sender,) = [t for t in threading.enumerate() if t not in running]
    # WHEN it is closed (before a SnapStart snapshot)
    assert captures.close(timeout_s=10)
    # THEN everything queued is delivered and its sender thread has ended
    assert [r["n"] for r in sink.records] == [0, 1, 2]
    assert not sender.is_alive()
    # AND the next offer is delivered by a new sender
    captures.offer([{"kind": "captures", "model": "m", "n": 3}])
    assert captures.flush(timeout_s=10) and [r["n"] for r in sink.records] == [0, 1, 2, 3]
    assert captures.close(timeout_s=10)
