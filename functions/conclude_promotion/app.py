"""conclude_promotion: production moved (or the canary rolled back), the lock released."""

from __future__ import annotations

from slipway.contracts.promotion import ConcludePromotionRequest
from slipway.handler import promotion_keys, step_handler
from slipway.steps.promotion.conclude_promotion import conclude_promotion

lambda_handler = step_handler(
    ConcludePromotionRequest,
    conclude_promotion,
    keys=promotion_keys,
    done="promotion concluded",
)
