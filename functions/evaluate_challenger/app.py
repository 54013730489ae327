"""evaluate: picks the best candidate, measures it on the test split and applies the gates."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from slipway.composition import deps, typed_errors
from slipway.contracts.training import EvaluateRequest
from slipway.steps.training.evaluate_challenger import evaluate_challenger

logger = Logger()


@logger.inject_lambda_context
@typed_errors
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = EvaluateRequest.from_event(event)
    logger.append_keys(run_id=request.run_id)
    result = evaluate_challenger(deps(), request)
    logger.info("gate decision", extra={"passed": result.gate.passed, "summary": result.gate.summary})
    return result.model_dump(mode="json")
