"""compute_drift: a window of live traffic against the production version's training reference, recorded."""

from __future__ import annotations

from slipway.contracts.drift import DriftRequest
from slipway.handler import step_handler
from slipway.steps.drift.compute_drift import compute_drift

lambda_handler = step_handler(
    DriftRequest,
    compute_drift,
    keys=lambda request: {"model": request.model, "check": request.check_id},
    done="drift checked",
    details=lambda request, result: {"drifted": result.drifted, "reason": result.reason},
)
