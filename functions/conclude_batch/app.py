"""conclude_batch: the batch_inference machine's last step — the summary of a scored run, or the typed
explanation of a failed one, recorded on the run."""

from __future__ import annotations

from slipway.contracts.batch import ConcludeBatchRequest
from slipway.handler import step_handler
from slipway.steps.batch.conclude_batch import conclude_batch

lambda_handler = step_handler(
    ConcludeBatchRequest,
    conclude_batch,
    keys=lambda request: {"run_id": request.run_id},
    done="concluded",
    details=lambda request, result: {"outcome": result.model_dump(mode="json")},
)
