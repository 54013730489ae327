"""A test-only Lambda handler behind the local HTTP API: echoes the event it received, raises on
``…/boom``, and on ``…/raw`` returns the request's JSON body as its own result (to drive the
gateway's mapping of Lambda results to HTTP)."""

from __future__ import annotations

import json
from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    path = event["rawPath"]
    if path.endswith("/boom"):
        raise RuntimeError("the handler failed")
    if path.endswith("/raw"):
        return json.loads(event["body"])
    if path.endswith("/size"):
        return {"statusCode": 200, "body": str(len(event.get("body") or ""))}
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(event)}
