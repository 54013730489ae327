"""train_candidate: fits one candidate (one Map iteration) and records its validation metrics."""

from __future__ import annotations

from slipway.contracts.training import TrainRequest
from slipway.handler import step_handler
from slipway.steps.training.train_candidate import train_candidate

lambda_handler = step_handler(
    TrainRequest,
    train_candidate,
    keys=lambda request: {"run_id": request.run_id, "candidate": request.candidate.index},
    done="candidate trained",
    details=lambda request, result: {
        "metrics": result.metrics,
        "fit_seconds": result.fit_seconds,
        "flags": result.flags,
    },
)
