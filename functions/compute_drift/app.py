"""compute_drift: a window of live traffic against the production version's training reference, recorded."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from slipway.composition import deps, typed_errors
from slipway.contracts.drift import DriftRequest
from slipway.steps.drift.compute_drift import compute_drift

logger = Logger()


@logger.inject_lambda_context
@typed_errors
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = DriftRequest.from_event(event)
    logger.append_keys(model=request.model, check=request.check_id)
    result = compute_drift(deps(), request)
    logger.info("drift checked", extra={"drifted": result.drifted, "reason": result.reason})
    return result.model_dump(mode="json")
