"""Records a failed run on its run item: the typed error and its cause, for `slipway runs`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from slipway.composition import Container
from slipway.contracts import FailureReport
from slipway.domain.keys import run_key


def _parse_cause(cause: str) -> Any:
    """Lambda errors arrive as a JSON payload in the Cause; keep its message when it is one."""
    try:
        payload = json.loads(cause)
    except (json.JSONDecodeError, TypeError):
        return cause
    if isinstance(payload, dict) and "errorMessage" in payload:
        return payload["errorMessage"]
    return payload


def record_failure(c: Container, report: FailureReport) -> dict[str, Any]:
    pk, sk = run_key(report.run_id)
    now = datetime.now(UTC).isoformat()
    c.table.update(
        pk,
        sk,
        {
            "run_id": report.run_id,
            "state_machine": report.state_machine,
            "status": "FAILED",
            "error_type": report.error_type,
            "error_message": _parse_cause(report.cause),
            "ended_at": now,
        },
    )
    return {"run_id": report.run_id, "status": "FAILED", "error_type": report.error_type}
