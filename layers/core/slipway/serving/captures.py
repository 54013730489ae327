"""Captures leave without holding the response: records go to a queue that a background thread
drains into the capture sink (Firehose) in batches. The sender lingers up to ``linger_s`` after the
first record of a batch (or until 500 are waiting), so a busy function makes one PutRecordBatch call
for many requests instead of one per request, as a Firehose producer library would.

The trade-off, as with any in-process buffer on Lambda: records queued when an execution
environment is frozen are sent at its next invocation, and those still queued when AWS retires the
environment are lost (a full queue drops and counts them in ``dropped``). ``flush`` drains
synchronously; ``close`` drains and stops the sender (before a SnapStart snapshot: a thread must not sleep
inside the snapshot, holding a client made before it), and the next ``offer`` starts a new one.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Mapping
from typing import Any

from slipway.ports import CaptureSink

log = logging.getLogger(__name__)

MAX_QUEUED = 100_000
BATCH = 500  # PutRecordBatch's limit
LINGER_S = 0.25


class BackgroundCaptures:
    def __init__(self, sink: CaptureSink, max_queued: int = MAX_QUEUED, linger_s: float = LINGER_S) -> None:
        self._sink = sink
        self._max = max_queued
        self._linger = linger_s
        self._pending: deque[Mapping[str, Any]] = deque()
        self._in_flight = 0
        self._changed = threading.Condition()
        self._hurry = False
        self._closing = False
        self.dropped = 0
        self.failed = 0
        self._thread: threading.Thread | None = None

    def offer(self, records: list[Mapping[str, Any]]) -> None:
        """Queue records for delivery; never blocks, and wakes the sender only for a new batch."""
        with self._changed:
            if self._thread is None:
                self._thread = threading.Thread(target=self._drain, name="captures", daemon=True)
                self._thread.start()
            room = self._max - len(self._pending)
            self._pending.extend(records[:room])
            self.dropped += max(0, len(records) - room)
            if len(self._pending) == len(records[:room]) or len(self._pending) >= BATCH:
                self._changed.notify_all()

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Send everything queued so far now; False if it is not delivered within ``timeout_s``."""
        with self._changed:
            self._hurry = True
            self._changed.notify_all()
            done = self._changed.wait_for(lambda: not self._pending and not self._in_flight, timeout=timeout_s)
            self._hurry = False
            return done

    def close(self, timeout_s: float = 10.0) -> bool:
        """Deliver what is queued and stop the sender thread; False if either did not happen within ``timeout_s``.
        The object stays usable: the next ``offer`` starts a new sender."""
        delivered = self.flush(timeout_s)
        with self._changed:
            thread, self._thread = self._thread, None
            if thread is None:
                return delivered
            self._closing = True
            self._changed.notify_all()
        thread.join(timeout_s)
        with self._changed:
            self._closing = False
        return delivered and not thread.is_alive()

    def _next_batch(self) -> list[Mapping[str, Any]] | None:
        """The next batch to send, or None when the sender is to stop (``close``)."""
        with self._changed:
            self._changed.wait_for(lambda: bool(self._pending) or self._closing)
            if self._closing:
                return None
            self._changed.wait_for(lambda: self._hurry or len(self._pending) >= BATCH, timeout=self._linger)
            batch = [self._pending.popleft() for _ in range(min(BATCH, len(self._pending)))]
            self._in_flight = len(batch)
            return batch

    def _drain(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            try:
                self._sink.put(batch)
            except Exception:  # a delivery failure must never reach a caller; it is counted and logged
                self.failed += len(batch)
                log.exception("could not deliver %d capture records", len(batch))
            finally:
                with self._changed:
                    self._in_flight = 0
                    self._changed.notify_all()
