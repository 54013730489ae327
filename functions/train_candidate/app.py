"""train: fits one candidate (one Map iteration) and records its validation metrics."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from slipway.composition import deps, typed_errors
from slipway.contracts.training import TrainRequest
from slipway.steps.training.train_candidate import train_candidate

logger = Logger()


@logger.inject_lambda_context
@typed_errors
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = TrainRequest.from_event(event)
    logger.append_keys(run_id=request.run_id, candidate=request.candidate.index)
    result = train_candidate(deps(), request)
    logger.info(
        "candidate trained", extra={"metrics": result.metrics, "fit_seconds": result.fit_seconds, "flags": result.flags}
    )
    return result.model_dump(mode="json")
