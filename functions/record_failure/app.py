"""record_failure: the training machine's Catch lands here to mark the run FAILED."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from slipway.composition import deps, typed_errors
from slipway.contracts.training import FailureReport
from slipway.steps.training.record_failure import record_failure

logger = Logger()


@logger.inject_lambda_context
@typed_errors
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    report = FailureReport.from_event(event)
    logger.warning("run failed", extra={"run_id": report.run_id, "error": report.error_type})
    return record_failure(deps(), report)
