"""register_promoted: the promoted version registered here with its source, spec and lineage."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from slipway.composition import deps, typed_errors
from slipway.promotion_contracts import RegisterPromotedRequest
from slipway.steps.register_promoted import register_promoted

logger = Logger()


@logger.inject_lambda_context
@typed_errors
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = RegisterPromotedRequest.from_event(event)
    logger.append_keys(promotion=request.promotion.id, model=request.promotion.model)
    result = register_promoted(deps(), request)
    logger.info("registered")
    return result if isinstance(result, dict) else result.model_dump(mode="json")
