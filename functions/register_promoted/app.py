"""register_promoted: the promoted version registered here with its source, spec and lineage."""

from __future__ import annotations

from slipway.contracts.promotion import RegisterPromotedRequest
from slipway.handler import promotion_keys, step_handler
from slipway.steps.promotion.register_promoted import register_promoted

lambda_handler = step_handler(
    RegisterPromotedRequest,
    register_promoted,
    keys=promotion_keys,
    done="registered",
)
