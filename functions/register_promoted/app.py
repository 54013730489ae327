"""register_promoted: the promoted version registered here with its source, spec and lineage."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from slipway.composition import promotion_step, typed_errors
from slipway.contracts.promotion import RegisterPromotedRequest
from slipway.steps.promotion.register_promoted import register_promoted

logger = Logger()


@logger.inject_lambda_context
@typed_errors
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return promotion_step(logger, RegisterPromotedRequest, register_promoted, event, "registered")
