"""check_canary: the canary judged on the bake window's captures and feedback, challenger vs champion."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from slipway.composition import promotion_step, typed_errors
from slipway.contracts.promotion import CheckCanaryRequest
from slipway.steps.promotion.check_canary import check_canary

logger = Logger()


@logger.inject_lambda_context
@typed_errors
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return promotion_step(logger, CheckCanaryRequest, check_canary, event, "canary judged")
