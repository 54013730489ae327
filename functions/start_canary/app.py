"""start_canary: the promoted version on live traffic as the challenger at the canary share."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from slipway.composition import deps, typed_errors
from slipway.promotion_contracts import StartCanaryRequest
from slipway.steps.start_canary import start_canary

logger = Logger()


@logger.inject_lambda_context
@typed_errors
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = StartCanaryRequest.from_event(event)
    logger.append_keys(promotion=request.promotion.id, model=request.promotion.model)
    result = start_canary(deps(), request)
    logger.info("canary started")
    return result if isinstance(result, dict) else result.model_dump(mode="json")
