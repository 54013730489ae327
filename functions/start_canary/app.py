"""start_canary: the promoted version on live traffic as the challenger at the canary share."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from slipway.composition import promotion_step, typed_errors
from slipway.contracts.promotion import StartCanaryRequest
from slipway.steps.promotion.start_canary import start_canary

logger = Logger()


@logger.inject_lambda_context
@typed_errors
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return promotion_step(logger, StartCanaryRequest, start_canary, event, "canary started")
