"""request_approval: the task token of a promotion waiting for a person, stored for slipway approve|reject."""

from __future__ import annotations

from slipway.contracts.promotion import ApprovalRequest
from slipway.handler import promotion_keys, step_handler
from slipway.steps.promotion.request_approval import request_approval

lambda_handler = step_handler(
    ApprovalRequest,
    request_approval,
    keys=promotion_keys,
    done="approval requested",
)
