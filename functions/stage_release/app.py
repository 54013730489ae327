"""stage_release: dev's in-place release resolves the version in its own registry and reads its deployment."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from slipway.composition import promotion_step, typed_errors
from slipway.contracts.promotion import StageRequest
from slipway.steps.promotion.stage_release import stage_release

logger = Logger()


@logger.inject_lambda_context
@typed_errors
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return promotion_step(logger, StageRequest, stage_release, event, "staged")
