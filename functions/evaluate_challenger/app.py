"""evaluate_challenger: picks the best candidate, measures it on the test split and applies the gates."""

from __future__ import annotations

from slipway.contracts.training import EvaluateRequest
from slipway.handler import step_handler
from slipway.steps.training.evaluate_challenger import evaluate_challenger

lambda_handler = step_handler(
    EvaluateRequest,
    evaluate_challenger,
    keys=lambda request: {"run_id": request.run_id},
    done="gate decision",
    details=lambda request, result: {"passed": result.gate.passed, "summary": result.gate.summary},
)
