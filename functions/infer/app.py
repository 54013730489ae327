"""infer: the HTTP inference API (API Gateway HTTP API, payload 2.0) over the registry's production
and challenger versions; KServe V1 and MLflow bodies; captures and feedback to Firehose."""

from __future__ import annotations

import functools
import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from slipway import __version__
from slipway.composition import deps
from slipway.errors import ArtifactIntegrityError, NotFound
from slipway.serving.http import (
    MAX_BODY_BYTES,
    MAX_ROWS,
    ErrorAnswer,
    FeedbackBody,
    PredictAnswer,
    PredictBody,
    error_answer,
    invalid_body_answer,
)
from slipway.serving.service import InferenceService, InvalidRequest

logger = Logger()
app = APIGatewayHttpResolver(enable_validation=True)


@functools.lru_cache(maxsize=4)
def _service(key: Any) -> InferenceService:
    return InferenceService(key)


_by_function: dict[str, InferenceService] = {}


def service() -> InferenceService:
    """One service (model cache, alias cache, capture sender) per warm environment. A function's environment
    variables do not change while its execution environment lives, so its settings are read on its first
    request only (reading them costs tens of µs a request), keyed by the function's ARN: the local cloud runs
    the functions of several environments (accounts) in one process, each under its own ARN."""
    arn = getattr(app.lambda_context, "invoked_function_arn", None)
    if not isinstance(arn, str):
        return _service(deps())
    found = _by_function.get(arn)
    if found is None:
        found = _by_function.setdefault(arn, _service(deps()))
    return found


app.exception_handler(RequestValidationError)(invalid_body_answer)


@app.exception_handler(InvalidRequest)
def _contract(error: InvalidRequest) -> Response[Any]:
    return error_answer(422, error.message, error.details.get("errors", []))


@app.exception_handler(NotFound)
def _not_found(error: NotFound) -> Response[Any]:
    return error_answer(404, error.message)


@app.exception_handler(ArtifactIntegrityError)
def _refused(error: ArtifactIntegrityError) -> Response[Any]:
    metrics = EphemeralMetrics(namespace="slipway", service="infer")
    metrics.add_metric(name="refused_artifacts", unit=MetricUnit.Count, value=1)
    metrics.flush_metrics()
    logger.error("refusing to serve a model whose artifact does not match the registry", extra={"error": str(error)})
    return error_answer(503, "the model's artifact does not match the registry; it is not served")


def _request_id() -> str:
    return str(app.current_event.request_context.request_id)


# The per-variant EMF record: Powertools' own serialisation (namespace, dimensions, metric definitions,
# timestamp: the line flush_metrics prints), on an emitter whose dimensions are set once per variant and
# with the metric set built directly: add_metric re-validates these constant names and units, and
# formats a debug message, on every call (~45 µs of the handler's ~60 µs for EMF).
VARIANT_METRICS = (
    ("requests", MetricUnit.Count),
    ("rows", MetricUnit.Count),
    ("mean_score", MetricUnit.NoUnit),
    ("latency", MetricUnit.Milliseconds),
)


@functools.lru_cache(maxsize=256)
def _variant_metrics(model: str, version: int, variant: str) -> EphemeralMetrics:
    metrics = EphemeralMetrics(namespace="slipway", service="infer")
    metrics.add_dimension(name="model", value=model)
    metrics.add_dimension(name="version", value=str(version))
    metrics.add_dimension(name="variant", value=variant)
    metrics.add_dimension(name="service", value="infer")  # where flush_metrics would add it: last
    return metrics  # read-only from here: concurrent requests may share it


def _emit_variant_metrics(model: str, version: int, variant: str, values: tuple[float, ...]) -> None:
    metrics = _variant_metrics(model, version, variant)
    metric_set = {
        name: {"Unit": unit.value, "StorageResolution": 60, "Value": [float(value)]}
        for (name, unit), value in zip(VARIANT_METRICS, values, strict=True)
    }
    record = metrics.serialize_metric_set(metrics=metric_set, dimensions=metrics.dimension_set, metadata={})
    print(json.dumps(record, separators=(",", ":")))


def _answers(ok: type[Any], description: str) -> dict[int, Any]:
    """The OpenAPI responses of a route: its answer and the errors it may give, as models."""
    errors = {
        400: "the body is not JSON",
        404: "no such model, or nothing in production",
        413: "too many rows or bytes",
        415: "not application/json",
        422: "the body or a row does not fit (each finding names the row, field and check)",
        503: "the model's artifact does not match the registry",
    }
    answers: dict[int, Any] = {200: {"description": description, "content": {"application/json": {"model": ok}}}}
    for status, text in errors.items():
        answers[status] = {"description": text, "content": {"application/json": {"model": ErrorAnswer}}}
    return answers


@app.post("/v1/models/<model>/predict", responses=_answers(PredictAnswer, "one prediction per row"))
def predict(model: str, body: PredictBody) -> Response[Any]:
    """Predict for 1..N rows with the model's production version (or its challenger, for its share)."""
    rows = body.rows()
    if len(rows) > MAX_ROWS:
        return error_answer(413, f"{len(rows)} rows; at most {MAX_ROWS} per request (use batch scoring for more)")
    result = service().predict(model, rows, _request_id())
    for (variant, version), (count, mean_score) in result.by_variant.items():
        _emit_variant_metrics(model, version, variant, (1, count, mean_score, result.latency_ms))
    # the answer serialised once, here: a dict body would be copied by the response validation
    # (pydantic's Any serialiser) and then dumped by the resolver
    answer = json.dumps(result.body, separators=(",", ":"))
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=answer)


@app.post("/v1/models/<model>/feedback")
def feedback(model: str, body: FeedbackBody) -> dict[str, Any]:
    """Ground truth for earlier predictions; lands beside the captures and joins by request id."""
    if len(body.feedback) > MAX_ROWS:
        raise InvalidRequest(f"at most {MAX_ROWS} feedback items per request")
    return service().feedback(model, [i.model_dump() for i in body.feedback], _request_id())


@app.get("/v1/models/<model>")
def describe_model(model: str) -> dict[str, Any]:
    """Served versions, aliases and weights, and the input schema (JSON Schema) from the data contract."""
    return service().describe(model)


@app.get("/v1/models")
def list_models() -> dict[str, Any]:
    return {"models": service().list_models()}


@app.get("/health")
def health() -> dict[str, Any]:
    return {"status": "ok", "version": __version__}


@app.get("/openapi.json")
def openapi() -> Response[str]:
    schema = app.get_openapi_json_schema(title="slipway inference API", version=__version__)
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=schema)


def _refuse_before_routing(event: dict[str, Any]) -> dict[str, Any] | None:
    """What API Gateway's own checks would not catch but Lambda's limits would: oversized bodies, and
    request bodies that are not JSON by content type."""
    if event.get("requestContext", {}).get("http", {}).get("method") != "POST":
        return None
    body = event.get("body") or ""
    if len(body) > MAX_BODY_BYTES:
        return _plain_error(413, f"the request body is over {MAX_BODY_BYTES} bytes")
    headers = event.get("headers") or {}
    content_type = headers.get("content-type")  # payload 2.0 lower-cases header names
    if content_type is None:
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    media = content_type.split(";")[0].strip().lower()
    if media != "application/json":
        return _plain_error(415, f"send application/json, not {media or 'no content type'}")
    return None


def _plain_error(status: int, message: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": content_types.APPLICATION_JSON},
        "body": json.dumps({"message": message}),
        "isBase64Encoded": False,
    }


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _refuse_before_routing(event) or app.resolve(event, context)
