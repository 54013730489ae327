"""The infer handler on an API Gateway HTTP API v2 event, with its service on the in-memory fakes:
status codes and bodies a client sees, without the local cloud."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from slipway import layout
from slipway.objects import S3Object
from slipway.serving.service import InferenceService
from slipway.stores.registry import ModelRegistry
from tests.fakes import fork
from tests.unit.serving.conftest import Registered
from tests.unit.serving.test_inference_service import rows

FUNCTIONS = Path(__file__).resolve().parents[3] / "functions"


def load_app(function: str = "infer") -> ModuleType:
    """A fresh copy of a function's handler module (``functions/<function>/app.py``)."""
    spec = importlib.util.spec_from_file_location(f"{function}_app_under_test", FUNCTIONS / function / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def event(method: str, path: str, body: Any = None, content_type: str = "application/json") -> dict[str, Any]:
    route = {"predict": "/v1/models/{model}/predict", "feedback": "/v1/models/{model}/feedback"}
    template = next((v for k, v in route.items() if path.endswith(k)), path)
    text = body if isinstance(body, str) else (json.dumps(body) if body is not None else None)
    return {
        "version": "2.0",
        "routeKey": f"{method} {template}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": content_type} if method == "POST" else {},
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "t"},
            "requestId": "req-handler",
            "routeKey": f"{method} {template}",
            "stage": "$default",
        },
        "pathParameters": {"model": path.split("/")[3]} if path.startswith("/v1/models/") else None,
        "body": text,
        "isBase64Encoded": False,
    }


class Context:
    aws_request_id = "lambda-request"
    function_name = "slipway-dev-infer"


@pytest.fixture
def served(two_versions: Registered, monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, InferenceService]:
    deps = fork(two_versions.deps)
    ModelRegistry.of(deps).set_alias("churn", "production", 1, actor="test", reason="serve")
    app = load_app()
    service = InferenceService(deps, alias_ttl_s=0)
    monkeypatch.setattr(app, "service", lambda: service)
    return app, service


def answer(app: ModuleType, ev: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    result = app.lambda_handler(ev, Context())
    return result["statusCode"], json.loads(result["body"])


def test_a_good_request_is_answered_with_the_request_id(served: tuple[ModuleType, InferenceService]) -> None:
    app, _ = served
    status, body = answer(app, event("POST", "/v1/models/churn/predict", {"instances": rows(2)}))
    assert status == 200 and body["request_id"] == "req-handler" and len(body["predictions"]) == 2


@pytest.mark.parametrize(
    ("ev", "status"),
    [
        (event("POST", "/v1/models/churn/predict", '{"instances": ['), 400),
        (event("POST", "/v1/models/churn/predict", "a=1", content_type="text/plain"), 415),
        (event("POST", "/v1/models/churn/predict", {"instances": [{"age": "x"}]}), 422),
        (event("POST", "/v1/models/churn/predict", {"rows": []}), 422),
        (event("POST", "/v1/models/nope/predict", {"instances": [{"age": 1}]}), 404),
        (event("POST", "/v1/models/churn/feedback", {"feedback": [{"actual": 1}]}), 422),
        (event("GET", "/v1/models/nope"), 404),
    ],
    ids=["malformed", "content-type", "contract", "body-shape", "unknown-model", "feedback-unidentified", "describe"],
)
def test_bad_requests_get_a_4xx_with_a_message(
    served: tuple[ModuleType, InferenceService], ev: dict[str, Any], status: int
) -> None:
    app, _ = served
    got, body = answer(app, ev)
    assert got == status and body["message"]


def test_a_tampered_model_is_refused_with_503_not_served(served: tuple[ModuleType, InferenceService]) -> None:
    app, service = served
    onnx = ModelRegistry.of(service.deps).get_version("churn", 1)["artifacts"][layout.MODEL_ONNX]
    service.deps.store.put_bytes(S3Object.parse(onnx["uri"]), b"tampered")
    status, body = answer(app, event("POST", "/v1/models/churn/predict", {"instances": rows(1)}))
    assert status == 503 and "does not match the registry" in body["message"]


def test_the_openapi_document_names_every_route(served: tuple[ModuleType, InferenceService]) -> None:
    app, _ = served
    status, document = answer(app, event("GET", "/openapi.json"))
    assert status == 200
    assert set(document["paths"]) == {
        "/v1/models/{model}/predict",
        "/v1/models/{model}/feedback",
        "/v1/models/{model}",
        "/v1/models",
        "/health",
        "/openapi.json",
    }


def test_the_openapi_document_describes_the_predict_answer_and_errors(
    served: tuple[ModuleType, InferenceService],
) -> None:
    app, _ = served
    _, document = answer(app, event("GET", "/openapi.json"))
    responses = document["paths"]["/v1/models/{model}/predict"]["post"]["responses"]
    assert responses["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/PredictAnswer"}
    assert {"400", "404", "413", "415", "422", "503"} <= set(responses)
    answer_fields = document["components"]["schemas"]["PredictAnswer"]["properties"]
    assert {"predictions", "probabilities", "model", "version", "variant", "request_id"} <= set(answer_fields)
    request = document["paths"]["/v1/models/{model}/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert request["schema"] == {"$ref": "#/components/schemas/PredictBody"}


def test_a_prediction_writes_one_emf_record_per_variant(
    served: tuple[ModuleType, InferenceService], capsys: pytest.CaptureFixture[str]
) -> None:
    app, _ = served
    status, body = answer(app, event("POST", "/v1/models/churn/predict", {"instances": rows(3)}))
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert status == 200 and len(records) == 1
    (record,) = records
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "slipway"
    assert directive["Dimensions"] == [["model", "version", "variant", "service"]]
    assert {m["Name"]: m["Unit"] for m in directive["Metrics"]} == {
        "requests": "Count",
        "rows": "Count",
        "mean_score": "None",
        "latency": "Milliseconds",
    }
    assert (record["model"], record["version"], record["variant"]) == ("churn", "1", "production")
    assert record["requests"] == [1.0] and record["rows"] == [3.0] and record["latency"][0] > 0
    scores = [p["1"] for p in body["probabilities"]]
    assert record["mean_score"][0] == pytest.approx(sum(scores) / len(scores))


def test_a_predict_body_logs_its_shape_not_its_rows() -> None:
    from slipway.serving.http import PredictBody

    body = PredictBody.model_validate({"instances": [{"email": "someone@example.com"}] * 2})
    assert repr(body) == "PredictBody(instances: 2 rows)" and "example.com" not in f"{ {'body': body} }"
