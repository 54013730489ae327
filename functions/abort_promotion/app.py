"""abort_promotion: every caught failure of a promotion lands here — its alias moves undone, the lock released,
the record closed; returns the typed error the machine fails with."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from slipway.composition import deps, typed_errors
from slipway.contracts.promotion import AbortRequest
from slipway.steps.promotion.abort_promotion import abort_promotion

logger = Logger()


@logger.inject_lambda_context
@typed_errors
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = AbortRequest.from_event(event)
    result = abort_promotion(deps(), request)
    logger.warning("promotion aborted", extra={"promotion": request.execution, "error": result["Error"]})
    return result
