"""curate_retraining_set: a drift's training run starts from the latest curated upload plus labelled captures."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from slipway.composition import deps, typed_errors
from slipway.contracts.drift import CurateRetrainingRequest
from slipway.steps.training.curate_retraining_set import curate_retraining_set

logger = Logger()


@logger.inject_lambda_context
@typed_errors
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = CurateRetrainingRequest.from_event(event)
    logger.append_keys(run_id=request.run_id, model=request.retrain.model, check_id=request.retrain.check_id)
    result = curate_retraining_set(deps(), request)
    logger.info("retraining set", extra={"dataset_version": result.dataset_version, "new": result.new})
    return result.model_dump(mode="json")
