"""infer: the HTTP inference API (API Gateway HTTP API, payload 2.0) over the registry's production
and challenger versions; KServe V1 and MLflow bodies; captures and feedback to Firehose.

``POST /v1/models/{model}/predict`` is answered by a lean path (``_lean_predict``) that does not go through
Powertools' resolver (its routing, event wrapper and validation middleware cost more than the model call): the
same checks, the same pydantic body model, the same answers and metrics. The resolver keeps the other routes,
and declares predict too, so that the OpenAPI document describes it from the same models (a test holds the two
paths to the same answers). Under SnapStart the hooks at the end load the served models before the snapshot and
give the restored environment fresh clients, alias reads and capture sender."""

from __future__ import annotations

import base64
import binascii
import functools
import json
import math
import threading
import time
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.types import CloudWatchEMFOutput
from pydantic import ValidationError
from snapshot_restore_py import register_after_restore, register_before_snapshot

from slipway import __version__, composition
from slipway.composition import deps
from slipway.errors import ArtifactIntegrityError, NotFound, SlipwayError
from slipway.ports import Deps
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
from slipway.settings import Settings

logger = Logger()
app = APIGatewayHttpResolver(enable_validation=True)
_compact = json.JSONEncoder(separators=(",", ":")).encode  # json.dumps with separators makes an encoder per call


# one per environment's settings (the local cloud runs several environments' functions in one process)
_services: dict[Settings, InferenceService] = {}
_making = threading.Lock()
_by_function: dict[str, InferenceService] = {}
_context: Any = None  # the current invocation's Lambda context: an execution environment runs one at a time


def _service(key: Deps) -> InferenceService:
    found = _services.get(key.settings)
    if found is None:
        with _making:
            found = _services.get(key.settings) or _services.setdefault(key.settings, InferenceService(key))
    return found


def service() -> InferenceService:
    """One service (model cache, alias cache, capture sender) per warm environment. A function's environment
    variables do not change while its execution environment lives, so its settings are read on its first
    request only (reading them costs tens of µs a request), keyed by the function's ARN without its qualifier
    (the alias or version it was invoked through): the local cloud runs the functions of several environments
    (accounts) in one process, each under its own ARN."""
    arn = getattr(_context, "invoked_function_arn", None)
    if not isinstance(arn, str):
        return _service(deps())
    found = _by_function.get(arn)
    if found is None:
        unqualified = ":".join(arn.split(":")[:7])
        found = _by_function.get(unqualified) or _by_function.setdefault(unqualified, _service(deps()))
        _by_function[arn] = found
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


# The per-variant EMF record: Powertools' own serialisation (namespace, dimensions, metric definitions: the line
# flush_metrics prints), made once per (model, version, variant) into a template whose only blanks are the
# timestamp and the four values. Filling it costs ~1 µs where Powertools' serialize_metric_set and a json.dumps cost
# ~10 µs a request (add_metric + flush_metrics ~45 µs: they re-validate these constant names and units and format
# a debug message on every call). A test holds the line to Powertools' own for the same values.
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


def _variant_record(model: str, version: int, variant: str, values: tuple[float, ...]) -> CloudWatchEMFOutput:
    """The EMF record Powertools makes of these values (its own timestamp)."""
    metrics = _variant_metrics(model, version, variant)
    metric_set = {
        name: {"Unit": unit.value, "StorageResolution": 60, "Value": [float(value)]}
        for (name, unit), value in zip(VARIANT_METRICS, values, strict=True)
    }
    return metrics.serialize_metric_set(metrics=metric_set, dimensions=metrics.dimension_set, metadata={})


@functools.lru_cache(maxsize=256)
def _variant_template(model: str, version: int, variant: str) -> str:
    """Powertools' record with blanks (printf style) for the timestamp and the values."""
    record = _variant_record(model, version, variant, (0,) * len(VARIANT_METRICS))
    record["_aws"]["Timestamp"] = 0
    text = _compact(record).replace("%", "%%")
    text = text.replace('"Timestamp":0,', '"Timestamp":%d,', 1)
    for name, _ in VARIANT_METRICS:
        blank = f'"{name}":[0.0]'
        assert text.count(blank) == 1, blank
        text = text.replace(blank, f'"{name}":[%r]')  # a finite float's repr is its JSON
    return text


def _emit_variant_metrics(model: str, version: int, variant: str, values: tuple[float, ...]) -> None:
    numbers = tuple(map(float, values))
    if not all(map(math.isfinite, numbers)):  # JSON has no literal for them: Powertools' line, as it makes it
        print(_compact(_variant_record(model, version, variant, numbers)))
        return
    print(_variant_template(model, version, variant) % (int(time.time() * 1000), *numbers))


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
    # Declared for the OpenAPI document (and answering when the event's routeKey is not the API's own, e.g. a
    # hand-made event): on Lambda, lambda_handler sends this route's requests to _lean_predict.
    answer = _predict_answer(model, body, _request_id())
    if isinstance(answer, str):
        return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=answer)
    return answer


def _predict_options(body: PredictBody) -> dict[str, Any]:
    """What a body asks of the service beyond its rows, as keywords of ``InferenceService.predict``: the one
    place a request option goes through, for both paths (``explain``: each row's explanation, issue 21 item 3)."""
    return {"explain": body.explain}


def _predict_answer(model: str, body: PredictBody, request_id: str) -> str | Response[Any]:
    """The predict route's work on a parsed body, for both paths: the answer's JSON, or an error answer."""
    rows = body.rows()
    if len(rows) > MAX_ROWS:
        return error_answer(413, f"{len(rows)} rows; at most {MAX_ROWS} per request (use batch scoring for more)")
    result = service().predict(model, rows, request_id, **_predict_options(body))
    for (variant, version), (count, mean_score) in result.by_variant.items():
        _emit_variant_metrics(model, version, variant, (1, count, mean_score, result.latency_ms))
    # the answer serialised once, here: a dict body would be copied by the response validation
    # (pydantic's Any serialiser) and then dumped by the resolver
    return _compact(result.body)


PREDICT_ROUTE = "POST /v1/models/{model}/predict"  # the routeKey API Gateway puts in the event (template: Predict)


def _lean_predict(event: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/models/{model}/predict`` without the resolver: the body parsed by the route's own pydantic
    model, the same answers for the same failures (the resolver's exception handlers, called directly), the
    result in the shape the resolver gives API Gateway."""
    try:
        body = _predict_body(event)
    except RequestValidationError as e:
        return _lambda_result(invalid_body_answer(e))
    model = event["pathParameters"]["model"]
    try:
        answer = _predict_answer(model, body, event["requestContext"]["requestId"])
        if isinstance(answer, str):  # the resolver's result for a 200 with a JSON body
            headers = {"Content-Type": content_types.APPLICATION_JSON}
            return {"statusCode": 200, "body": answer, "isBase64Encoded": False, "headers": headers, "cookies": []}
        response = answer
    except InvalidRequest as e:
        response = _contract(e)
    except NotFound as e:
        response = _not_found(e)
    except ArtifactIntegrityError as e:
        response = _refused(e)
    return _lambda_result(response)


def _predict_body(event: dict[str, Any]) -> PredictBody:
    """The body as the resolver's validation reads it: JSON (else ``json_invalid``), no body or ``null`` is a
    missing body, then PredictBody validated in Python mode (its messages are those of the resolver's), each
    error located under ``body``. A body that fits is parsed in one pass (``model_validate_json``, ~2.5 µs
    less); only one that does not is read again the resolver's way, for the same answer."""
    text: str | bytes = event.get("body") or ""
    if text and event.get("isBase64Encoded"):
        try:
            text = base64.b64decode(text, validate=True)
        except binascii.Error:
            text = b"\xff"  # not JSON either
    if text:
        try:
            return PredictBody.model_validate_json(text)
        except ValidationError:
            pass
    try:
        data = json.loads(text) if text else None
    except ValueError as e:  # JSONDecodeError, or bytes that are not UTF-8
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body",), "msg": str(e)}]) from e
    if data is None:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    try:
        return PredictBody.model_validate(data, from_attributes=True)  # as the resolver's TypeAdapter
    except ValidationError as e:
        raise RequestValidationError([{**d, "loc": ("body", *d["loc"])} for d in e.errors(include_url=False)]) from e


def _lambda_result(response: Response[Any]) -> dict[str, Any]:
    """A route's Response as the payload 2.0 result the resolver makes of it (JSON bodies compact)."""
    body = response.body
    if not isinstance(body, str):
        body = _compact(body)
    headers = {name: value if isinstance(value, str) else ", ".join(value) for name, value in response.headers.items()}
    return {
        "statusCode": response.status_code,
        "body": body,
        "isBase64Encoded": False,
        "headers": headers,
        "cookies": [],
    }


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
    global _context
    _context = context
    refused = _refuse_before_routing(event)
    if refused is not None:
        return refused
    if event.get("routeKey") == PREDICT_ROUTE and (event.get("pathParameters") or {}).get("model"):
        return _lean_predict(event)
    return app.resolve(event, context)


# ---------------------------------------------------------------------------------------------- SnapStart
# With SnapStart (infra/template.yaml, InferSnapStart), Lambda initialises a published version once, runs the
# before-snapshot hooks, snapshots the environment, and resumes new environments from the snapshot, running the
# after-restore hooks first (within 10 s). Without SnapStart neither hook runs.
SNAPSHOT_VERSIONS = 16  # served versions loaded into the snapshot at most (each holds an ONNX session in memory)


@register_before_snapshot
def _before_snapshot() -> None:
    """Put what a first request would load into the snapshot: each model's production and challenger versions
    (the artifact read and its SHA-256 checked, the ONNX session made, onnxruntime imported). Then leave out
    what must not be restored: the capture senders (a thread asleep with a client made before the snapshot)
    and the clients themselves (connections, credentials). No alias read is kept in the snapshot: a restore may
    come days later."""
    try:
        _load_served_models(_service(deps()))
    except Exception as e:  # noqa: BLE001 - a failed warm-up must not fail the version's publication
        logger.warning("the snapshot is taken without the served models", extra={"error": repr(e)})
    for made in _services.values():
        made.captures.close()
    composition.reset_clients()


def _load_served_models(warm: InferenceService) -> None:
    """Each model's production and challenger versions, loaded as their first request would load them."""
    loaded = 0
    for listed in warm.list_models():
        for version in (listed["production"], listed["challenger"]):
            if version is None or loaded >= SNAPSHOT_VERSIONS:
                continue
            try:
                warm.served(listed["model"], int(version))
                loaded += 1
            except SlipwayError as e:  # served as without SnapStart: refused (503) or loaded at its first request
                extra = {"model": listed["model"], "version": version, "error": str(e)}
                logger.warning("not loaded before the snapshot", extra=extra)


@register_after_restore
def _after_restore() -> None:
    """Fresh clients (new connections and credentials; botocore's parsed service models kept) under the same
    services, which forget every alias read from before the snapshot (the alias cache's clock is not to be trusted
    across a restore) and start a new capture sender at their first capture; the versions, contracts and ONNX
    sessions loaded before the snapshot are kept (a version never changes), so a first request reads only aliases."""
    composition.reset_clients()
    with _making:
        for service in _services.values():
            service.forget_routing()
