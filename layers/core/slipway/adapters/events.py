"""EventBridge (the EventBus port): domain events on the environment's bus."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from slipway.adapters.clients import TRANSIENT_CODES, aws_errors
from slipway.errors import SlipwayError, TransientError


class EventBridgeBus:
    def __init__(self, events_client: Any, bus_name: str) -> None:
        self._events = events_client
        self.name = bus_name

    def put(self, source: str, detail_type: str, detail: Mapping[str, Any]) -> str:
        entry = {"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail), "EventBusName": self.name}
        with aws_errors(f"put {detail_type} event on {self.name}"):
            response = self._events.put_events(Entries=[entry])
        result = response["Entries"][0]
        if response.get("FailedEntryCount") or "EventId" not in result:
            code = str(result.get("ErrorCode", "unknown"))
            error = TransientError if code in TRANSIENT_CODES or code == "InternalFailure" else SlipwayError
            raise error(f"{detail_type} event refused by {self.name}: {code}", {"code": code})
        return str(result["EventId"])
