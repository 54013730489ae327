"""begin_promotion: the promotion machine's first step — the request checked, recorded, the model's lock taken."""

from __future__ import annotations

from slipway.contracts.promotion import StartRequest
from slipway.handler import step_handler
from slipway.steps.promotion.begin_promotion import begin_promotion

lambda_handler = step_handler(
    StartRequest,
    begin_promotion,
    keys=lambda start: {"promotion": start.execution},
    done="promotion begun",
    details=lambda start, promotion: {"ref": promotion.ref, "from": promotion.source_env},
)
