"""request_retraining: one retraining per model per cooldown, announced as DriftDetected."""

from __future__ import annotations

from slipway.contracts.drift import RetrainingRequest
from slipway.handler import step_handler
from slipway.steps.drift.request_retraining import request_retraining

lambda_handler = step_handler(
    RetrainingRequest,
    request_retraining,
    keys=lambda request: {"model": request.check.model, "check": request.check.check_id},
    done="retraining decided",
    details=lambda request, result: {"requested": result.requested, "reason": result.reason},
)
