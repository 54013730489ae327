"""The first step of batch scoring: a model reference (``MODEL``, ``MODEL@VERSION``, ``MODEL@ALIAS``) becomes
one registered version, pinned for the whole run by its ONNX artifact's SHA-256 (checked here once, so a
tampered artifact stops the run before any part is read), and the run is recorded."""

from __future__ import annotations

from slipway import layout
from slipway.contracts.batch import ResolvedBatch, ScoreRequest
from slipway.domain.digest import verify_sha256
from slipway.errors import InvalidEvent, NotFound
from slipway.objects import S3Object
from slipway.ports import Deps
from slipway.stores.registry import ModelRegistry, parse_ref
from slipway.stores.runs import start_run
from slipway.stores.specs import spec_at

KIND = "batch_inference"


def resolve_batch(deps: Deps, request: ScoreRequest) -> ResolvedBatch:
    model, _ = parse_ref(request.ref)
    start_run(deps, request.run_id, kind=KIND, model=model, ref=request.ref, input_uri=request.input)
    readable = (deps.settings.raw_bucket, deps.settings.lake_bucket)
    if request.input_bucket not in readable:
        raise InvalidEvent(
            f"batch scoring reads parts from this environment's buckets ({', '.join(readable)}), "
            f"not {request.input_bucket}",
            {"errors": [{"field": "input", "message": f"bucket {request.input_bucket} is not readable by scoring"}]},
        )

    item = ModelRegistry.of(deps).resolve(request.ref)
    version = int(item["version"])
    artifact = item.get("artifacts", {}).get(layout.MODEL_ONNX)
    if artifact is None:
        reason = item.get("onnx", {}).get("error", "no ONNX export")
        raise NotFound(
            f"{model}@{version} has no ONNX artifact to score with ({reason})", {"model": model, "version": version}
        )
    uri, sha256 = str(artifact["uri"]), str(artifact["sha256"])
    verify_sha256(deps.store.get_bytes(S3Object.parse(uri)), sha256, uri)
    spec_version = str(item["spec_version"])
    spec_at(deps, model, spec_version)  # the data contract every part is checked against must be readable

    output = layout.predictions_uri(deps.settings.lake_bucket, model, version, request.run_id)
    start_run(
        deps,
        request.run_id,
        model_version=version,
        onnx_sha256=sha256,
        spec_version=spec_version,
        output_uri=output,
    )
    return ResolvedBatch(
        run_id=request.run_id,
        model=model,
        version=version,
        onnx_sha256=sha256,
        spec_version=spec_version,
        task=item["task"],
        input_uri=request.input,
        input_bucket=request.input_bucket,
        input_prefix=request.input_prefix,
        output_uri=output,
    )
