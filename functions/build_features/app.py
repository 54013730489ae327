"""build_features: splits a dataset version and fits the spec's transforms on its training split."""

from __future__ import annotations

from slipway.contracts.training import FeaturesRequest
from slipway.handler import step_handler
from slipway.steps.training.build_features import build_features

lambda_handler = step_handler(
    FeaturesRequest,
    build_features,
    keys=lambda request: {"run_id": request.run_id, "dataset_version": request.dataset.dataset_version},
    done="feature set",
    details=lambda request, result: {"feature_set": result.feature_set.id, "candidates": len(result.candidates)},
)
