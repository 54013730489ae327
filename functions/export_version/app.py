"""export_version: runs in the source environment, invoked by the target's promotion machine across accounts:
resolves the reference and writes the version's manifest beside its artifacts."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from slipway.composition import deps, typed_errors
from slipway.contracts.promotion import ExportRequest
from slipway.steps.promotion.export_version import export_version

logger = Logger()


@logger.inject_lambda_context
@typed_errors
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = ExportRequest.from_event(event)
    logger.append_keys(promotion=request.promotion.id, ref=request.promotion.ref)
    account = str(context.invoked_function_arn).split(":")[4]  # this function's own account
    exported = export_version(deps(), request, account)
    logger.info("exported", extra={"version": exported.version, "manifest": exported.manifest_uri})
    return exported.model_dump(mode="json")
