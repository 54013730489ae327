"""score_part: one child of the batch_inference Distributed Map — one Parquet part checked against the data
contract, scored with the pinned ONNX model and written under the run's predictions prefix."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools import Logger

from slipway.composition import deps, typed_errors
from slipway.contracts.batch import PartRequest
from slipway.ports import Deps
from slipway.serving.models import ModelCache
from slipway.steps.batch.score_part import score_part

logger = Logger()


@functools.lru_cache(maxsize=4)
def _models(key: Deps) -> ModelCache:
    """One model cache per warm environment: the parts a warm function scores next reuse the ONNX session."""
    return ModelCache(key.store)


@logger.inject_lambda_context
@typed_errors
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = PartRequest.from_event(event)
    logger.append_keys(run_id=request.batch.run_id, part=request.part)
    current = deps()
    result = score_part(current, request, _models(current))
    logger.info("part", extra={"status": result.status, "rows": result.rows, "output": result.output_uri})
    return result.model_dump(mode="json")
