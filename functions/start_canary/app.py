"""start_canary: the promoted version on live traffic as the challenger at the canary share."""

from __future__ import annotations

from slipway.contracts.promotion import StartCanaryRequest
from slipway.handler import promotion_keys, step_handler
from slipway.steps.promotion.start_canary import start_canary

lambda_handler = step_handler(
    StartCanaryRequest,
    start_canary,
    keys=promotion_keys,
    done="canary started",
)
