"""Kinesis Data Firehose (the CaptureSink port): JSON records in batches of at most 500 records /
4 MiB, as PutRecordBatch allows; records the stream refuses are retried once, then raise."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from slipway.adapters.clients import aws_errors
from slipway.errors import SlipwayError, TransientError

MAX_RECORDS = 500
MAX_BYTES = 4 * 1024 * 1024


class FirehoseSink:
    def __init__(self, firehose_client: Any, stream_name: str | None) -> None:
        self._firehose = firehose_client
        self.name = stream_name

    def put(self, records: Sequence[Mapping[str, Any]]) -> None:
        if self.name is None:
            raise SlipwayError("no capture stream configured (CAPTURE_STREAM is not set for this function)")
        batch: list[bytes] = []
        size = 0
        for record in records:
            data = json.dumps(record, separators=(",", ":"), allow_nan=False).encode()
            if batch and (len(batch) == MAX_RECORDS or size + len(data) > MAX_BYTES):
                self._send(batch)
                batch, size = [], 0
            batch.append(data)
            size += len(data)
        if batch:
            self._send(batch)

    def _send(self, batch: list[bytes]) -> None:
        pending = batch
        for _ in range(2):
            with aws_errors(f"put {len(pending)} records on {self.name}"):
                response = self._firehose.put_record_batch(
                    DeliveryStreamName=self.name, Records=[{"Data": d} for d in pending]
                )
            if not response.get("FailedPutCount"):
                return
            pending = [d for d, r in zip(pending, response["RequestResponses"], strict=True) if r.get("ErrorCode")]
        raise TransientError(f"{self.name} refused {len(pending)} records", {"stream": self.name})
