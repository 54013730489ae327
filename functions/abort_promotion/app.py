"""abort_promotion: every caught failure of a promotion lands here — its alias moves undone, the lock released,
the record closed; returns the typed error the machine fails with."""

from __future__ import annotations

from slipway.contracts.promotion import AbortRequest
from slipway.handler import step_handler
from slipway.steps.promotion.abort_promotion import abort_promotion

lambda_handler = step_handler(
    AbortRequest,
    abort_promotion,
    keys=lambda request: {"promotion": request.execution},
    done="promotion aborted",
    details=lambda request, result: {"error": result["Error"]},
    level="warning",
)
