"""start_training: the upload rule's target (one training run per uploaded object version) and the
DriftDetected rule's (one retraining run per drift check that claimed it)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from slipway.composition import deps, typed_errors
from slipway.contracts.drift import RetrainingOrder
from slipway.contracts.training import StartTrainingRequest
from slipway.steps.training.start_training import start_retraining, start_training

logger = Logger()


@logger.inject_lambda_context
@typed_errors
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if isinstance(event, dict) and event.get("detail-type") == "DriftDetected":
        order = RetrainingOrder.from_event(event)
        retraining = start_retraining(deps(), order)
        if isinstance(retraining, str):
            logger.warning(
                "DriftDetected: no retraining started here",
                extra={"model": order.model, "check_id": order.check_id, "why": retraining},
            )
            return {"started": False, "model": order.model, "check_id": order.check_id, "why": retraining}
        logger.info("retraining started", extra={"run_id": retraining.run_id, "check_id": order.check_id})
        return retraining.model_dump(mode="json")
    request = StartTrainingRequest.from_event(event)
    started = start_training(deps(), request)
    logger.info(
        "duplicate event: run already started" if started.already_exists else "run started",
        extra={"run_id": started.run_id, "raw": request.raw.uri, "version_id": request.raw.version_id},
    )
    return started.model_dump(mode="json")
