"""register: the winner becomes the model's next version, with artifacts, card and lineage."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from slipway.composition import deps, typed_errors
from slipway.contracts.training import RegisterRequest
from slipway.steps.training.register_version import register_version

logger = Logger()


@logger.inject_lambda_context
@typed_errors
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = RegisterRequest.from_event(event)
    logger.append_keys(run_id=request.run_id)
    result = register_version(deps(), request)
    logger.info("registered", extra={"model": result.model, "version": result.version, "new": result.new})
    return result.model_dump(mode="json")
