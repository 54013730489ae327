"""resolve_batch: the batch_inference machine's first step — the model reference becomes one version, pinned
by its ONNX SHA-256 (checked once), and the run is recorded."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from slipway.composition import deps, typed_errors
from slipway.contracts.batch import ScoreRequest
from slipway.steps.batch.resolve_batch import resolve_batch

logger = Logger()


@logger.inject_lambda_context
@typed_errors
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = ScoreRequest.from_event(event)
    logger.append_keys(run_id=request.run_id, ref=request.ref)
    result = resolve_batch(deps(), request)
    logger.info("resolved", extra={"version": result.version, "input": result.input_uri, "output": result.output_uri})
    return result.model_dump(mode="json")
