"""stage_release: dev's in-place release resolves the version in its own registry and reads its deployment."""

from __future__ import annotations

from slipway.contracts.promotion import StageRequest
from slipway.handler import promotion_keys, step_handler
from slipway.steps.promotion.stage_release import stage_release

lambda_handler = step_handler(
    StageRequest,
    stage_release,
    keys=promotion_keys,
    done="staged",
)
