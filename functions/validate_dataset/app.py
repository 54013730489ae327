"""validate_dataset: an uploaded object becomes a curated dataset version, or is quarantined."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from slipway.composition import deps, typed_errors
from slipway.contracts.training import ValidateRequest
from slipway.steps.training.validate_dataset import validate_dataset

logger = Logger()


@logger.inject_lambda_context
@typed_errors
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = ValidateRequest.from_event(event, default_run_id=context.aws_request_id)
    logger.append_keys(run_id=request.run_id, raw=request.raw.uri)
    result = validate_dataset(deps(), request.raw, request.run_id)
    logger.info("dataset version", extra={"dataset_version": result.dataset_version, "new": result.new})
    return result.model_dump(mode="json")
