"""copy_artifacts: as the promotion role, the artifacts from the source's bucket into this one, SHA-256 checked."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from slipway.composition import deps, typed_errors
from slipway.promotion_contracts import CopyRequest
from slipway.steps.copy_artifacts import copy_artifacts

logger = Logger()


@logger.inject_lambda_context
@typed_errors
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = CopyRequest.from_event(event)
    logger.append_keys(promotion=request.promotion.id, model=request.promotion.model)
    result = copy_artifacts(deps(), request)
    logger.info("copied from the source")
    return result if isinstance(result, dict) else result.model_dump(mode="json")
