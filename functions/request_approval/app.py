"""request_approval: the task token of a promotion waiting for a person, stored for slipway approve|reject."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from slipway.composition import promotion_step, typed_errors
from slipway.contracts.promotion import ApprovalRequest
from slipway.steps.promotion.request_approval import request_approval

logger = Logger()


@logger.inject_lambda_context
@typed_errors
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return promotion_step(logger, ApprovalRequest, request_approval, event, "approval requested")
