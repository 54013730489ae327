"""request_retraining: one retraining per model per cooldown, announced as DriftDetected."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from slipway.composition import deps, typed_errors
from slipway.contracts.drift import RetrainingRequest
from slipway.steps.drift.request_retraining import request_retraining

logger = Logger()


@logger.inject_lambda_context
@typed_errors
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = RetrainingRequest.from_event(event)
    logger.append_keys(model=request.check.model, check=request.check.check_id)
    result = request_retraining(deps(), request)
    logger.info("retraining decided", extra={"requested": result.requested, "reason": result.reason})
    return result.model_dump(mode="json")
