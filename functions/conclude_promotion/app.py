"""conclude_promotion: production moved (or the canary rolled back), the lock released."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from slipway.composition import promotion_step, typed_errors
from slipway.contracts.promotion import ConcludePromotionRequest
from slipway.steps.promotion.conclude_promotion import conclude_promotion

logger = Logger()


@logger.inject_lambda_context
@typed_errors
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return promotion_step(logger, ConcludePromotionRequest, conclude_promotion, event, "promotion concluded")
