"""materialise_view: an upload to views/<view>/ becomes a feature view version (offline history, online values)."""

from __future__ import annotations

from slipway.contracts.training import ValidateRequest
from slipway.handler import step_handler
from slipway.steps.features.materialise_view import materialise_view

lambda_handler = step_handler(
    ValidateRequest,
    lambda deps, request: materialise_view(deps, request.raw, request.run_id),
    keys=lambda request: {"run_id": request.run_id, "raw": request.raw.uri},
    done="view version",
    details=lambda request, result: result,
)
