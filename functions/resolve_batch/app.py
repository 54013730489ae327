"""resolve_batch: the batch_inference machine's first step — the model reference becomes one version, pinned
by its ONNX SHA-256 (checked once), and the run is recorded."""

from __future__ import annotations

from slipway.contracts.batch import ScoreRequest
from slipway.handler import step_handler
from slipway.steps.batch.resolve_batch import resolve_batch

lambda_handler = step_handler(
    ScoreRequest,
    resolve_batch,
    keys=lambda request: {"run_id": request.run_id, "ref": request.ref},
    done="resolved",
    details=lambda request, result: {"version": result.version, "input": result.input_uri, "output": result.output_uri},
)
