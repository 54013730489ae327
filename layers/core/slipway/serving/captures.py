"""Captures leave without holding the response: records go to a queue that a background thread
drains into the capture sink (Firehose) in batches.

The trade-off, as with any in-process buffer on Lambda: records queued when an execution
environment is frozen are sent at its next invocation, and those still queued when AWS retires the
environment are lost (counted in ``dropped`` when the queue is full). ``flush`` drains synchronously.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Mapping
from typing import Any

from slipway.ports import CaptureSink

log = logging.getLogger(__name__)

MAX_QUEUED = 100_000
BATCH = 500


class BackgroundCaptures:
    def __init__(self, sink: CaptureSink, max_queued: int = MAX_QUEUED) -> None:
        self._sink = sink
        self._queue: queue.Queue[Mapping[str, Any]] = queue.Queue(max_queued)
        self._idle = threading.Condition()
        self.dropped = 0
        self.failed = 0
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def offer(self, records: list[Mapping[str, Any]]) -> None:
        """Queue records for delivery; never blocks (a full queue drops and counts them)."""
        self._ensure_thread()
        for record in records:
            try:
                self._queue.put_nowait(record)
            except queue.Full:
                self.dropped += 1

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until everything queued so far was handed to the sink; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._queue.unfinished_tasks == 0, timeout=timeout_s)

    def _ensure_thread(self) -> None:
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._drain, name="captures", daemon=True)
                    self._thread.start()

    def _drain(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._sink.put(batch)
            except Exception:  # a delivery failure must never reach a caller; it is counted and logged
                self.failed += len(batch)
                log.exception("could not deliver %d capture records", len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()
                with self._idle:
                    self._idle.notify_all()
