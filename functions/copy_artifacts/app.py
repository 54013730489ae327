"""copy_artifacts: as the promotion role, the artifacts from the source's bucket into this one, SHA-256 checked."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from slipway.composition import promotion_step, typed_errors
from slipway.contracts.promotion import CopyRequest
from slipway.steps.promotion.copy_artifacts import copy_artifacts

logger = Logger()


@logger.inject_lambda_context
@typed_errors
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return promotion_step(logger, CopyRequest, copy_artifacts, event, "copied from the source")
