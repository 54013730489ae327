"""Where every caught failure of a promotion ends: the aliases this execution moved go back where they were
(each only if still where it left them), a pending approval is closed, the lock is released if this
promotion holds it, and the record says how it ended (REJECTED, TIMED_OUT or FAILED) with the typed error
the machine then fails with. The source environment is never changed by a promotion."""

from __future__ import annotations

import json
from typing import Any

from slipway.contracts.promotion import AbortRequest
from slipway.errors import ConflictError
from slipway.ports import Deps
from slipway.stores.promotions import claim_approval, pending_approvals, record, release_lock, undo_alias_moves
from slipway.stores.registry import parse_ref
from slipway.stores.runs import get_run

SOURCE = "slipway.promotion"
# The typed error → how the promotion ended; ABORTED and TIMED_OUT come from the execution's status-change event
# (stopped, or over its own timeout), when the machine itself could not reach Abort.
STATUS = {"ApprovalRejected": "REJECTED", "ApprovalTimedOut": "TIMED_OUT", "ABORTED": "ABORTED", "TIMED_OUT": "FAILED"}


def readable_cause(cause: Any) -> str:
    """A Lambda error's cause is its JSON error payload: keep its message."""
    if isinstance(cause, str):
        try:
            parsed = json.loads(cause)
        except ValueError:
            return cause
        if isinstance(parsed, dict) and "errorMessage" in parsed:
            return str(parsed["errorMessage"])
        return cause
    return "" if cause is None else json.dumps(cause, default=str)


def abort_promotion(deps: Deps, request: AbortRequest) -> dict[str, str]:
    error = str(request.error.get("Error", "States.Runtime"))
    cause = readable_cause(request.error.get("Cause"))
    status = STATUS.get(error, "FAILED")
    existing = get_run(deps, request.execution) or {}
    model = existing.get("model") or _model_of(request.request)
    undone: list[str] = []
    if model:
        undone = undo_alias_moves(
            deps, model, request.execution_arn, reason=f"promotion {request.execution} ended {status} ({error}): undone"
        )
        for approval in pending_approvals(deps, model, deps.settings.env):
            if approval.get("execution") == request.execution:
                answer = "TIMED_OUT" if status == "TIMED_OUT" else "REJECTED"
                try:
                    claim_approval(deps, approval, answer, "the promotion machine", f"promotion ended {status}")
                except ConflictError:
                    pass  # answered meanwhile
        release_lock(deps, model, request.execution)
    record(
        deps,
        request.execution,
        status=status,
        step="Abort",
        error=error,
        cause=cause,
        undone=undone,
        waiting_for=None,
        ended_at=deps.now_iso(),
        **({"model": model} if model else {}),
    )
    deps.events.put(
        SOURCE,
        "PromotionFailed",
        {
            "model": model,
            "env": deps.settings.env,
            "promotion": request.execution,
            "status": status,
            "error": error,
            "cause": cause,
            "undone": undone,
        },
    )
    return {"Error": error, "Cause": cause}


def _model_of(request: dict[str, Any]) -> str | None:
    ref = request.get("ref")
    return parse_ref(ref)[0] if isinstance(ref, str) and ref else None
