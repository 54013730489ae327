"""curate_retraining_set: a drift's training run starts from the latest curated upload plus labelled captures."""

from __future__ import annotations

from slipway.contracts.drift import CurateRetrainingRequest
from slipway.handler import step_handler
from slipway.steps.training.curate_retraining_set import curate_retraining_set

lambda_handler = step_handler(
    CurateRetrainingRequest,
    curate_retraining_set,
    keys=lambda request: {
        "run_id": request.run_id,
        "model": request.retrain.model,
        "check_id": request.retrain.check_id,
    },
    done="retraining set",
    details=lambda request, result: {"dataset_version": result.dataset_version, "new": result.new},
)
