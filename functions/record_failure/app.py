"""record_failure: the training machine's Catch lands here to mark the run FAILED."""

from __future__ import annotations

from slipway.contracts.training import FailureReport
from slipway.handler import step_handler
from slipway.steps.training.record_failure import record_failure

lambda_handler = step_handler(
    FailureReport,
    record_failure,
    keys=lambda report: {"run_id": report.run_id, "error": report.error_type},
    done="run failed",
    level="warning",
)
