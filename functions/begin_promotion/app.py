"""begin_promotion: the promotion machine's first step — the request checked, recorded, the model's lock taken."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from slipway.composition import deps, typed_errors
from slipway.contracts.promotion import StartRequest
from slipway.steps.promotion.begin_promotion import begin_promotion

logger = Logger()


@logger.inject_lambda_context
@typed_errors
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    start = StartRequest.from_event(event)
    logger.append_keys(promotion=start.execution)
    promotion = begin_promotion(deps(), start)
    logger.info("promotion begun", extra={"ref": promotion.ref, "from": promotion.source_env})
    return promotion.model_dump(mode="json")
