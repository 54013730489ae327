"""conclude_batch: the batch_inference machine's last step — the summary of a scored run, or the typed
explanation of a failed one, recorded on the run."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from slipway.composition import deps, typed_errors
from slipway.contracts.batch import ConcludeBatchRequest
from slipway.steps.batch.conclude_batch import conclude_batch

logger = Logger()


@logger.inject_lambda_context
@typed_errors
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = ConcludeBatchRequest.from_event(event)
    logger.append_keys(run_id=request.run_id)
    result = conclude_batch(deps(), request)
    logger.info("concluded", extra={"outcome": result.model_dump(mode="json")})
    return result.model_dump(mode="json")
