"""The predict route's lean path (functions/infer/app.py answers POST /v1/models/{model}/predict without Powertools'
resolver) against the resolver's own route, which stays declared for the OpenAPI document: for every kind of body a
client may send, the two give the same status, content type and answer."""

from __future__ import annotations

import base64
import json
from types import ModuleType
from typing import Any

import pytest

from slipway import layout
from slipway.objects import S3Object
from slipway.serving.service import InferenceService
from slipway.stores.registry import ModelRegistry
from tests.unit.serving import test_infer_handler
from tests.unit.serving.test_infer_handler import Context, event
from tests.unit.serving.test_inference_service import rows

served = test_infer_handler.served  # the handler tests' fixture: their app, its service on the fakes

PREDICT = "/v1/models/churn/predict"


def _bodies() -> list[tuple[str, Any]]:
    row = rows(1)[0]
    columns = list(row)
    return [
        ("one row", {"instances": [row]}),
        ("three rows", {"instances": rows(3)}),
        ("dataframe_records", {"dataframe_records": rows(2)}),
        ("dataframe_split", {"dataframe_split": {"columns": columns, "data": [[row[c] for c in columns]]}}),
        ("malformed JSON", '{"instances": ['),
        ("empty body", ""),
        ("null", "null"),
        ("a list", "[]"),
        ("a string", '"rows"'),
        ("an empty object", "{}"),
        ("no rows", {"instances": []}),
        ("a row that is not an object", {"instances": [[1, 2]]}),
        ("two bodies at once", {"instances": [row], "dataframe_records": [row]}),
        ("ragged dataframe_split", {"dataframe_split": {"columns": ["a", "b"], "data": [[1]]}}),
        ("an unknown key", {"instances": [row], "rows": 1}),
        ("a value off the contract", {"instances": [{**row, "age": "forty"}]}),
        ("a missing column", {"instances": [{k: v for k, v in row.items() if k != "plan"}]}),
        ("too many rows", {"instances": [row] * 10_001}),
    ]


def _result(app: ModuleType, ev: dict[str, Any], *, lean: bool) -> tuple[int, str, Any]:
    result = app.lambda_handler(ev, Context()) if lean else app.app.resolve(ev, Context())
    headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
    return result["statusCode"], headers.get("content-type", ""), json.loads(result["body"])


@pytest.mark.parametrize(("case", "body"), _bodies(), ids=[c for c, _ in _bodies()])
def test_the_lean_path_answers_as_the_resolver_route(
    served: tuple[ModuleType, InferenceService], case: str, body: Any
) -> None:
    app, _ = served
    # GIVEN one predict request, as API Gateway sends it (routeKey "POST /v1/models/{model}/predict")
    ev = event("POST", PREDICT, body)
    assert ev["routeKey"] == app.PREDICT_ROUTE
    # WHEN the handler answers it (the lean path) and the resolver's declared route answers it
    lean = _result(app, ev, lean=True)
    resolver = _result(app, ev, lean=False)
    # THEN status, content type and answer are the same
    assert lean == resolver
    assert lean[1] == "application/json" and (lean[0] == 200 or lean[2]["message"])


def test_unknown_models_and_a_base64_body_are_answered_alike(served: tuple[ModuleType, InferenceService]) -> None:
    app, _ = served
    unknown = event("POST", "/v1/models/nope/predict", {"instances": rows(1)})
    encoded = event("POST", PREDICT, {"instances": rows(2)})
    encoded.update(body=base64.b64encode(encoded["body"].encode()).decode(), isBase64Encoded=True)
    for ev, status in ((unknown, 404), (encoded, 200)):
        lean, resolver = _result(app, ev, lean=True), _result(app, ev, lean=False)
        assert lean == resolver and lean[0] == status


def test_a_tampered_model_gets_503_and_its_metric_on_the_lean_path(
    served: tuple[ModuleType, InferenceService], capsys: pytest.CaptureFixture[str]
) -> None:
    app, service = served
    # GIVEN production's ONNX artifact changed behind the registry's back
    onnx = ModelRegistry.of(service.deps).get_version("churn", 1)["artifacts"][layout.MODEL_ONNX]
    service.deps.store.put_bytes(S3Object.parse(onnx["uri"]), b"tampered")
    # WHEN a client asks for a prediction
    status, _, body = _result(app, event("POST", PREDICT, {"instances": rows(1)}), lean=True)
    # THEN 503, and the refusal is counted in the refused_artifacts metric
    assert status == 503 and "does not match the registry" in body["message"]
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [r.get("refused_artifacts") for r in records] == [[1.0]]


def test_the_lean_path_never_enters_the_resolver(
    served: tuple[ModuleType, InferenceService], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, _ = served

    def no_resolver(*_: Any) -> Any:
        raise AssertionError("the resolver was called")

    monkeypatch.setattr(app.app, "resolve", no_resolver)
    result = app.lambda_handler(event("POST", PREDICT, {"instances": rows(1)}), Context())
    assert result["statusCode"] == 200 and len(json.loads(result["body"])["predictions"]) == 1


@pytest.mark.parametrize("values", [(1, 3, 0.25, 0.731), (1, 10_000, 1e-7, 12.5), (1, 1, float("nan"), 0.2)])
def test_the_emf_line_is_powertools_own(
    served: tuple[ModuleType, InferenceService], capsys: pytest.CaptureFixture[str], values: tuple[float, ...]
) -> None:
    app, _ = served
    # GIVEN one variant's four values WHEN the handler writes its EMF line
    app._emit_variant_metrics("churn", 3, "challenger", values)
    written = capsys.readouterr().out.splitlines()
    # THEN it is the record Powertools' serialize_metric_set makes of them, field for field (the timestamp its own)
    (line,) = written
    record, expected = json.loads(line), app._variant_record("churn", 3, "challenger", values)
    assert abs(record["_aws"].pop("Timestamp") - expected["_aws"].pop("Timestamp")) < 60_000
    assert json.dumps(record, sort_keys=True) == json.dumps(expected, sort_keys=True)
