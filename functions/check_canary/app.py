"""check_canary: the canary judged on the bake window's captures and feedback, challenger vs champion."""

from __future__ import annotations

from slipway.contracts.promotion import CheckCanaryRequest
from slipway.handler import promotion_keys, step_handler
from slipway.steps.promotion.check_canary import check_canary

lambda_handler = step_handler(
    CheckCanaryRequest,
    check_canary,
    keys=promotion_keys,
    done="canary judged",
)
