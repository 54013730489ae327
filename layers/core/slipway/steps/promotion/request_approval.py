"""Ask a person to approve a promotion (the machine waits on ``.waitForTaskToken``): the task token is
stored under the approval's key so that ``slipway approve|reject MODEL --env ENV`` can answer, and an
``ApprovalRequested`` event says who is waited for and until when (no answer by then: rejected)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from slipway import layout
from slipway.contracts.promotion import ApprovalRequest
from slipway.ports import Deps
from slipway.stores.promotions import record

SOURCE = "slipway.promotion"


def request_approval(deps: Deps, request: ApprovalRequest) -> dict[str, Any]:
    promotion, promoted = request.promotion, request.promoted
    env, model = deps.settings.env, promotion.model
    now = deps.clock.now()
    deadline = (now + timedelta(seconds=promoted.approval_timeout)).isoformat()
    # A retried task waits on a new token: the newest one is the one to answer.
    deps.table.put(
        layout.item(
            layout.approval_key(model, env, promotion.id),
            model=model,
            env=env,
            execution=promotion.id,
            execution_arn=promotion.execution_arn,
            version=promoted.version,
            source=f"{promotion.source_env} {promotion.ref}",
            token=request.token,
            requested_by=promotion.requested_by,
            reason=promotion.reason,
            requested_at=now.isoformat(),
            deadline=deadline,
            status="PENDING",
        )
    )
    waiting_for = (
        f"a person with the platform role in {env} other than its requester: slipway approve {model} --env {env} "
        f"--reason … (or slipway reject), before {_short(deadline)}"
    )
    record(
        deps,
        promotion.id,
        status="WAITING_FOR_APPROVAL",
        step="WaitForApproval",
        waiting_for=waiting_for,
        approval_deadline=deadline,
    )
    deps.events.put(
        SOURCE,
        "ApprovalRequested",
        {
            "model": model,
            "env": env,
            "version": promoted.version,
            "promotion": promotion.id,
            "source": f"{promotion.source_env} {promotion.ref}",
            "requested_by": promotion.requested_by,
            "deadline": deadline,
            "waiting_for": waiting_for,
        },
    )
    return {"requested_at": now.isoformat(), "deadline": deadline}


def _short(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S UTC")
