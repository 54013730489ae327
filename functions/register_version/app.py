"""register_version: the winner becomes the model's next version, with artifacts, card and lineage."""

from __future__ import annotations

from slipway.contracts.training import RegisterRequest
from slipway.handler import step_handler
from slipway.steps.training.register_version import register_version

lambda_handler = step_handler(
    RegisterRequest,
    register_version,
    keys=lambda request: {"run_id": request.run_id},
    done="registered",
    details=lambda request, result: {"model": result.model, "version": result.version, "new": result.new},
)
