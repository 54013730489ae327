"""features: splits a dataset version and fits the spec's transforms on its training split."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from slipway.composition import deps, typed_errors
from slipway.contracts.training import FeaturesRequest
from slipway.steps.training.build_features import build_features

logger = Logger()


@logger.inject_lambda_context
@typed_errors
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = FeaturesRequest.from_event(event)
    logger.append_keys(run_id=request.run_id, dataset_version=request.dataset.dataset_version)
    result = build_features(deps(), request)
    logger.info("feature set", extra={"feature_set": result.feature_set.id, "candidates": len(result.candidates)})
    return result.model_dump(mode="json")
