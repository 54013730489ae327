"""materialise_view: an upload to views/<view>/ becomes a feature view version (offline history, online values)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from slipway.composition import deps, typed_errors
from slipway.contracts.training import ValidateRequest
from slipway.steps.features.materialise_view import materialise_view

logger = Logger()


@logger.inject_lambda_context
@typed_errors
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = ValidateRequest.from_event(event, default_run_id=context.aws_request_id)
    logger.append_keys(run_id=request.run_id, raw=request.raw.uri)
    result = materialise_view(deps(), request.raw, request.run_id)
    logger.info("view version", extra=result)
    return result
