"""conclude_promotion: production moved (or the canary rolled back), the lock released."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from slipway.composition import deps, typed_errors
from slipway.promotion_contracts import ConcludeRequest
from slipway.steps.conclude_promotion import conclude_promotion

logger = Logger()


@logger.inject_lambda_context
@typed_errors
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = ConcludeRequest.from_event(event)
    logger.append_keys(promotion=request.promotion.id, model=request.promotion.model)
    result = conclude_promotion(deps(), request)
    logger.info("promotion concluded")
    return result if isinstance(result, dict) else result.model_dump(mode="json")
