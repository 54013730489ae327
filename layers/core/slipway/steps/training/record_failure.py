"""Records a failed run on its run item: the typed error and its cause, for `slipway runs`."""

from __future__ import annotations

import json
from typing import Any

from slipway.contracts.training import FailureReport
from slipway.ports import Deps
from slipway.stores.registry import ModelRegistry
from slipway.stores.runs import close_run_if_open, get_run, listing, update_run


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
    status = report.status
    fields = {
        "state_machine": report.state_machine,
        "status": status,
        "error_type": report.error_type,
        "error_message": _parse_cause(report.cause),
        "ended_at": deps.now_iso(),
    }
    if report.if_running:
        closed = close_run_if_open(deps, report.run_id, **fields)
        if not closed:  # the run had already ended (its own Catch recorded it): leave that record
            existing = get_run(deps, report.run_id) or {}
            return {"run_id": report.run_id, "status": existing.get("status"), "closed": False}
        return {"run_id": report.run_id, "status": status, "error_type": report.error_type, "closed": True}
    # A step that failed after the run's version was committed (a crash in Register's last writes): the
    # version is complete and stays; the run says which it is.
    model = (get_run(deps, report.run_id) or {}).get("model")
    registered = ModelRegistry.of(deps).version_of_run(model, report.run_id) if model else None
    update_run(deps, report.run_id, **fields, **listing(deps, report.run_id), model_version=registered)
    return {"run_id": report.run_id, "status": "FAILED", "error_type": report.error_type}
