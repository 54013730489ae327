"""Records a failed run on its run item: the typed error and its cause, for `slipway runs`."""

from __future__ import annotations

import json
from typing import Any

from slipway.contracts import FailureReport
from slipway.ports import Deps
from slipway.runs import listing, update_run


def _parse_cause(cause: str) -> Any:
    """Lambda errors arrive as a JSON payload in the Cause; keep its message when it is one."""
    try:
        payload = json.loads(cause)
    except (json.JSONDecodeError, TypeError):
        return cause
    if isinstance(payload, dict) and "errorMessage" in payload:
        return payload["errorMessage"]
    return payload


def record_failure(deps: Deps, report: FailureReport) -> dict[str, Any]:
    update_run(
        deps,
        report.run_id,
        state_machine=report.state_machine,
        status="FAILED",
        error_type=report.error_type,
        error_message=_parse_cause(report.cause),
        ended_at=deps.now_iso(),
        **listing(deps, report.run_id),
    )
    return {"run_id": report.run_id, "status": "FAILED", "error_type": report.error_type}
