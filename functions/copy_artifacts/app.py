"""copy_artifacts: as the promotion role, the artifacts from the source's bucket into this one, SHA-256 checked."""

from __future__ import annotations

from slipway.contracts.promotion import CopyRequest
from slipway.handler import promotion_keys, step_handler
from slipway.steps.promotion.copy_artifacts import copy_artifacts

lambda_handler = step_handler(
    CopyRequest,
    copy_artifacts,
    keys=promotion_keys,
    done="copied from the source",
)
