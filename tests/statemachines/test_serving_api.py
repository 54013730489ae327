"""The inference API as a client meets it: a model trained by the training machine, put into
production with `slipway aliases set`, then HTTP requests (SigV4-signed, as IAM auth wants) to the
local cloud's HTTP API — predictions equal the registered model's own, every bad request gets the
right 4xx naming the field, schemathesis finds no 5xx, captures and feedback land in the lake."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from rich.console import Console

from slipway import layout
from slipway.domain.features import model_input_frame
from slipway.stores.artifacts import load_verified_model
from slipway.stores.features import feature_inputs
from slipway.stores.registry import ModelRegistry
from slipway.stores.specs import push_spec
from slipway_cli import serving
from slipway_cli.samples import corrupt, make_churn, to_csv_bytes
from slipway_cli.target import Target
from slipway_local import LocalCloud
from slipway_local.polling import poll
from tests.conftest import spec_variant, upload_and_wait

MODEL = "churn-serve"

type Call = Callable[..., tuple[int, Any]]


def json_rows(n: int, seed: int = 21) -> list[dict[str, Any]]:
    """Rows as a client sends them: JSON values, timestamps as ISO dates, nulls as null."""
    frame = make_churn(n_rows=n, seed=seed).drop(columns=["churned"])
    rows = json.loads(frame.to_json(orient="records", date_format="iso"))
    for row in rows:
        row["signup_date"] = row["signup_date"][:10]
    return rows  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def trained(cloud: LocalCloud, dev: Target) -> dict[str, Any]:
    """churn-serve v1, trained by the training machine from an upload; nothing in production yet."""
    push_spec(dev.deps, spec_variant(MODEL))
    run = upload_and_wait(cloud, "dev", f"{MODEL}/2026-11-25.csv", to_csv_bytes(make_churn(n_rows=3_000, seed=5)))
    assert run.status == "SUCCEEDED", run.execution.get("cause")
    return run.output["model"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def call(cloud: LocalCloud, dev_api_url: str) -> Call:
    """An HTTP client of dev's API, signing as dev's operator (``signed=False``: as an anonymous caller)."""

    def send(
        method: str, path: str, body: Any = None, *, raw: bytes | None = None, content_type: str = "application/json"
    ) -> tuple[int, Any]:
        url = dev_api_url + path
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        headers = {"Content-Type": content_type} if method == "POST" else {}
        headers = cloud.signed_headers("dev", method, url, data, headers)
        request = urllib.request.Request(url, data=data if method == "POST" else None, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as e:
            text = e.read()
            return e.code, json.loads(text) if text.startswith(b"{") else text.decode()

    return send


@pytest.fixture(scope="module")
def in_production(trained: dict[str, Any], dev: Target, call: Call) -> dict[str, Any]:
    # GIVEN nothing in production: a prediction is refused with 404 saying so
    status, answer = call("POST", f"/v1/models/{MODEL}/predict", {"instances": json_rows(1)})
    assert status == 404 and "no version in production" in answer["message"]
    # WHEN an operator sets the production alias, as `slipway aliases set` does
    moved = serving.aliases_set(
        dev, MODEL, "production", trained["version"], reason="first release", expect_previous="none"
    )
    assert moved["updated_by"].startswith("arn:aws:")
    return trained


def test_predictions_equal_the_registered_models_own_output(
    in_production: dict[str, Any], dev: Target, call: Call
) -> None:
    item = ModelRegistry.of(dev.deps).get_version(MODEL, in_production["version"])
    pipeline = load_verified_model(dev.deps.store, item["artifacts"][layout.MODEL_SKOPS])
    for rows in (json_rows(1), json_rows(40, seed=22)):
        status, answer = call("POST", f"/v1/models/{MODEL}/predict", {"instances": rows})
        assert status == 200, answer
        expected = pipeline.predict_proba(model_input_frame(rows, feature_inputs(item["inputs"])))[:, 1]
        np.testing.assert_allclose([p["1"] for p in answer["probabilities"]], expected, atol=1e-5)
        assert answer["predictions"] == [int(p > 0.5) for p in expected]
        assert (answer["model"], answer["version"], answer["variant"]) == (
            MODEL,
            in_production["version"],
            "production",
        )
    # AND MLflow clients' bodies are answered the same
    rows = json_rows(3, seed=23)
    _, kserve = call("POST", f"/v1/models/{MODEL}/predict", {"instances": rows})
    _, records = call("POST", f"/v1/models/{MODEL}/predict", {"dataframe_records": rows})
    columns = list(rows[0])
    split = {"dataframe_split": {"columns": columns, "data": [[r[c] for c in columns] for r in rows]}}
    _, by_split = call("POST", f"/v1/models/{MODEL}/predict", split)
    assert kserve["probabilities"] == records["probabilities"] == by_split["probabilities"]


def test_explanations_through_the_api_add_up_to_the_served_probability(
    in_production: dict[str, Any], dev: Target, call: Call
) -> None:
    # GIVEN the production version, whose registration built its explainer
    item = ModelRegistry.of(dev.deps).get_version(MODEL, in_production["version"])
    assert item["explanations"]["status"] == "ok" and layout.EXPLAINER in item["artifacts"]

    # WHEN 20 rows are sent with "explain": true
    rows = json_rows(20, seed=24)
    status, answer = call("POST", f"/v1/models/{MODEL}/predict", {"instances": rows, "explain": True})

    # THEN each row's explanation adds up to the probability it was served, over the raw features the client sent
    assert status == 200, answer
    for probabilities, explanation in zip(answer["probabilities"], answer["explanations"], strict=True):
        raw = explanation["base"] + sum(explanation["contributions"].values())
        served = 1 / (1 + np.exp(-raw)) if explanation["output"] == "log-odds" else raw
        assert abs(served - probabilities["1"]) <= 1e-5 and explanation["label"] == 1
        assert {i["name"] for i in item["inputs"]} <= set(explanation["contributions"])
    # AND "explain" that is not a boolean is a 422 naming it
    status, answer = call("POST", f"/v1/models/{MODEL}/predict", {"instances": rows[:1], "explain": "sometimes"})
    assert status == 422 and any(e["field"].endswith("explain") for e in answer["errors"]), answer


def test_slipway_predict_explain_shows_why_each_row_came_out_so(in_production: dict[str, Any], dev: Target) -> None:
    # WHEN the operator runs `slipway predict churn-serve --json ROWS --explain` (the CLI's call, through the API)
    rows = json_rows(2, seed=25)
    answer, table = serving.predict(dev, MODEL, rows, explain=True)

    # THEN the table has a "why" column naming, per row, the explained output and its largest contributions
    console = Console(width=400, record=True)
    console.print(table)
    text = console.export_text()
    first = answer["explanations"][0]
    top = next(iter(first["contributions"]))
    assert "why (largest contributions)" in text and f"{first['output']} of 1: base" in text and top in text


def _row(**change: Any) -> dict[str, Any]:
    row = json_rows(1, seed=30)[0]
    row.update(change)
    return {k: v for k, v in row.items() if v != "<drop>"}


BAD_REQUESTS: list[tuple[str, dict[str, Any], int, str | None, str | None]] = [
    # (case, request, status, field at fault, check)
    ("age not an integer", {"body": {"instances": [_row(age="forty")]}}, 422, "age", "type"),
    ("age fractional", {"body": {"instances": [_row(age=33.5)]}}, 422, "age", "type"),
    ("age above max", {"body": {"instances": [_row(age=120)]}}, 422, "age", "max"),
    ("negative charges", {"body": {"instances": [_row(monthly_charges=-1)]}}, 422, "monthly_charges", "min"),
    ("plan not allowed", {"body": {"instances": [_row(plan="gold")]}}, 422, "plan", "allowed"),
    (
        "null in a required column",
        {"body": {"instances": [_row(tenure_months=None)]}},
        422,
        "tenure_months",
        "not_null",
    ),
    ("missing column", {"body": {"instances": [_row(plan="<drop>")]}}, 422, "plan", "missing"),
    ("unknown column", {"body": {"instances": [_row(tenure=3)]}}, 422, "tenure", "unknown_field"),
    ("not a timestamp", {"body": {"instances": [_row(signup_date="soon")]}}, 422, "signup_date", "type"),
    ("entity id off its pattern", {"body": {"instances": [_row(customer_id="x1")]}}, 422, "customer_id", "regex"),
    ("a row that is not an object", {"body": {"instances": [[1, 2]]}}, 422, "instances.0", None),
    ("no rows", {"body": {"instances": []}}, 422, "instances", None),
    ("two bodies at once", {"body": {"instances": [_row()], "dataframe_records": [_row()]}}, 422, "body", None),
    ("ragged dataframe_split", {"body": {"dataframe_split": {"columns": ["a", "b"], "data": [[1]]}}}, 422, None, None),
    ("malformed JSON", {"raw": b'{"instances": [', "body": None}, 400, None, None),
    ("wrong content type", {"raw": b"age=40", "content_type": "application/x-www-form-urlencoded"}, 415, None, None),
    ("too many rows", {"body": {"instances": [_row()] * 10_001}}, 413, None, None),
    ("oversized body", {"raw": b'{"instances": [' + b" " * (7 * 1024 * 1024) + b"]}"}, 413, None, None),
    ("unknown model", {"path": "/v1/models/fraud/predict", "body": {"instances": [_row()]}}, 404, None, None),
]


@pytest.mark.parametrize(
    ("case", "request_", "status", "field", "check"), BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS]
)
def test_a_bad_request_gets_the_right_4xx_naming_the_field(
    in_production: dict[str, Any],
    call: Call,
    case: str,
    request_: dict[str, Any],
    status: int,
    field: str | None,
    check: str | None,
) -> None:
    path = request_.get("path", f"/v1/models/{MODEL}/predict")
    got, answer = call(
        "POST",
        path,
        request_.get("body"),
        raw=request_.get("raw"),
        content_type=request_.get("content_type", "application/json"),
    )
    assert got == status, answer
    assert isinstance(answer, dict) and answer["message"]
    if field is not None:
        assert field in {e["field"] for e in answer["errors"]}, answer
    if check is not None:
        assert [(e["row"], e["field"], e["check"]) for e in answer["errors"]] == [(0, field, check)]


def test_an_unsigned_request_is_refused(in_production: dict[str, Any], dev_api_url: str) -> None:
    request = urllib.request.Request(dev_api_url + "/health")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403


def test_describe_and_list_show_what_is_served(in_production: dict[str, Any], call: Call) -> None:
    status, described = call("GET", f"/v1/models/{MODEL}")
    assert status == 200
    assert described["served"] == [{"variant": "production", "version": in_production["version"], "weight": 1.0}]
    assert described["input_schema"]["properties"]["age"] == {"type": "integer", "minimum": 18.0, "maximum": 90.0}
    status, listed = call("GET", "/v1/models")
    assert {
        "model": MODEL,
        "production": in_production["version"],
        "challenger": None,
        "challenger_weight": None,
    } in listed["models"]
    assert call("GET", "/health") == (
        200,
        {"status": "ok", "version": listed and described and call("GET", "/health")[1]["version"]},
    )


def test_captures_and_feedback_land_partitioned_and_join_by_request_id(
    in_production: dict[str, Any], cloud: LocalCloud, dev: Target, call: Call
) -> None:
    # GIVEN a prediction for two rows, and ground truth for its second row
    _, answer = call("POST", f"/v1/models/{MODEL}/predict", {"instances": json_rows(2, seed=40)})
    status, accepted = call(
        "POST",
        f"/v1/models/{MODEL}/feedback",
        {"feedback": [{"request_id": answer["request_id"], "row": 1, "actual": 1}]},
    )
    assert (status, accepted["accepted"]) == (200, 1)

    # WHEN the capture stream has delivered them
    s3 = cloud.client("s3", "dev")
    lake = dev.outputs["LakeBucketName"]

    def records(kind: str) -> list[dict[str, Any]] | None:
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=lake, Prefix=f"{kind}/{MODEL}/dt=").get("Contents", [])]
        found = [
            json.loads(line)
            for key in keys
            for line in s3.get_object(Bucket=lake, Key=key)["Body"].read().decode().splitlines()
            if line.strip()
        ]
        mine = [r for r in found if answer["request_id"] in (r.get("request_id"), r.get("feedback_id"))]
        return mine or None

    captured = poll(lambda: records("captures"), timeout_s=20, what="no captures in the lake")
    feedback = poll(lambda: records("feedback"), timeout_s=20, what="no feedback in the lake")

    # THEN each row is captured with its inputs, output, variant and version, and the feedback joins its row
    assert sorted(r["row"] for r in captured) == [0, 1]
    assert all(r["version"] == in_production["version"] and r["variant"] == "production" for r in captured)
    assert "email" not in captured[0]["inputs"]  # PII the model does not read is never captured
    joined = [c for c in captured if (c["request_id"], c["row"]) == (feedback[0]["request_id"], feedback[0]["row"])]
    assert len(joined) == 1 and feedback[0]["actual"] == 1


class _SigV4(requests.auth.AuthBase):
    """Signs each schemathesis request as dev's operator, as IAM auth on the API wants."""

    def __init__(self, cloud: LocalCloud) -> None:
        self.cloud = cloud

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        body = body.encode() if isinstance(body, str) else body
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("content-type", "host")}
        request.headers.update(self.cloud.signed_headers("dev", str(request.method), str(request.url), body, headers))
        return request


@pytest.fixture(scope="module")
def api_schema(in_production: dict[str, Any], call: Call) -> Any:
    status, raw = call("GET", "/openapi.json")
    assert status == 200 and raw["openapi"].startswith("3.")
    return schemathesis.openapi.from_dict(raw)


FUZZ_EXAMPLES = 340  # per operation: the three with parameters or bodies give 1,020 cases


def test_fuzzed_requests_never_get_a_server_error(api_schema: Any, cloud: LocalCloud, dev_api_url: str) -> None:
    # GIVEN every operation of the API's own OpenAPI document, requests derived from it by schemathesis (on the
    # model in production and on random model names, bodies valid and not)
    sent: dict[str, int] = {}
    auth = _SigV4(cloud)

    def fuzz(operation: Any) -> Callable[[], None]:
        label = operation.label

        @settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        @given(case=operation.as_strategy())
        def answer_is_not_a_server_error(case: Any) -> None:
            # WHEN it is sent THEN the answer is never a 5xx
            response = case.call(base_url=dev_api_url, auth=auth, timeout=30)
            sent[label] = sent.get(label, 0) + 1
            assert response.status_code < 500, (case.method, case.formatted_path, case.body, response.text[:500])

        return answer_is_not_a_server_error  # type: ignore[no-any-return]

    for found in api_schema.get_all_operations():
        fuzz(found.ok())()
    assert len(sent) == 6 and sum(sent.values()) >= 1_000, sent


def pa_buffer(body: bytes) -> Any:
    import pyarrow as pa

    return pa.BufferReader(body)


def _raw_pii_found(store_bytes: bytes, name: str, raw: set[str]) -> set[str]:
    """The raw values of ``raw`` present in one stored object: Parquet read cell by cell (its pages are
    compressed), zip archives (skops) member by member, anything else as text."""
    import io
    import re
    import zipfile

    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(store_bytes))
        cells = {str(v) for column in table.columns for v in column.to_pylist() if isinstance(v, str)}
        return cells & raw
    if zipfile.is_zipfile(io.BytesIO(store_bytes)):
        with zipfile.ZipFile(io.BytesIO(store_bytes)) as archive:
            return set().union(*(_raw_pii_found(archive.read(m), m, raw) for m in archive.namelist()))
    text = store_bytes.decode("latin-1")
    return {token for token in re.findall(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+", text) if token in raw}


def test_no_raw_pii_value_is_stored_anywhere_the_pipeline_writes(
    in_production: dict[str, Any], cloud: LocalCloud, dev: Target, call: Call
) -> None:
    # GIVEN the emails (a `pii: hash` column) of the training upload, of a quarantined upload and of
    # prediction requests, with their captures delivered
    raw = set(make_churn(n_rows=3_000, seed=5)["email"])
    bad = make_churn(n_rows=200, seed=6)
    raw |= set(bad["email"].astype(str))
    quarantined = upload_and_wait(cloud, "dev", f"{MODEL}/broken.csv", to_csv_bytes(corrupt(bad)))
    assert quarantined.status == "FAILED"
    rows = json_rows(5, seed=77)
    raw |= {row["email"] for row in rows}
    _, answer = call("POST", f"/v1/models/{MODEL}/predict", {"instances": rows})
    s3 = cloud.client("s3", "dev")
    lake, artifacts = dev.outputs["LakeBucketName"], dev.outputs["ArtifactsBucketName"]

    def captured() -> bool | None:
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=lake, Prefix=f"captures/{MODEL}/").get("Contents", [])]
        bodies = (s3.get_object(Bucket=lake, Key=k)["Body"].read() for k in keys)
        return True if any(answer["request_id"].encode() in body for body in bodies) else None

    poll(captured, timeout_s=20, what="no captures of the request")

    # WHEN every object under curated data, feature sets, captures, feedback, quarantine and reports of the
    # model, and its artifacts and run reports, is read
    trained_by = ModelRegistry.of(dev.deps).get_version(MODEL, in_production["version"])["run_id"]
    run_ids = {trained_by, quarantined.execution["name"]}
    scanned: dict[str, set[str]] = {}
    for bucket, prefixes in (
        (
            lake,
            [
                f"curated/{MODEL}/",
                f"features/{MODEL}/",
                f"captures/{MODEL}/",
                f"feedback/{MODEL}/",
                f"quarantine/{MODEL}/",
                "reports/",
            ],
        ),
        (artifacts, [f"models/{MODEL}/", *(f"runs/{run}/" for run in run_ids)]),
    ):
        for prefix in prefixes:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                    scanned[f"{bucket}/{obj['Key']}"] = _raw_pii_found(body, obj["Key"], raw)

    # (the scan finds what it looks for: the raw upload and the quarantined copy hold the emails)
    raw_bucket = dev.outputs["RawBucketName"]
    upload = s3.get_object(Bucket=raw_bucket, Key=f"{MODEL}/2026-11-25.csv")["Body"].read()
    assert len(_raw_pii_found(upload, "upload.csv", raw)) == 3_000
    assert any(found for key, found in scanned.items() if key.endswith("/broken.csv"))

    # (and the curated emails are hashed with the salt the account keeps in SSM, which the stack only names)
    import hashlib

    import pyarrow.parquet as pq

    salt = cloud.admin_client("ssm", "dev").get_parameter(Name="/slipway/dev/pii-salt", WithDecryption=True)
    salt_value = salt["Parameter"]["Value"]
    curated = [k for k in scanned if k.startswith(f"{lake}/curated/{MODEL}/") and k.endswith("data.parquet")]
    hashed: set[str] = set()
    for key in curated:
        body = s3.get_object(Bucket=lake, Key=key.split("/", 1)[1])["Body"].read()
        hashed |= set(pq.read_table(pa_buffer(body)).column("email").to_pylist())
    first = sorted(make_churn(n_rows=3_000, seed=5)["email"])[0]
    assert hashlib.sha256((salt_value + first).encode()).hexdigest() in hashed

    # THEN none holds a raw value (the quarantine keeps the rejected file itself, by design: its copy is
    # skipped; its report is scanned)
    kinds = {key.split("/")[1] for key in scanned}
    assert {"curated", "features", "captures", "quarantine", "models"} <= kinds, kinds
    leaks = {key: found for key, found in scanned.items() if found and not key.endswith("/broken.csv")}
    assert leaks == {}, {k: sorted(v)[:3] for k, v in leaks.items()}
