"""The operate handler on API Gateway HTTP API v2 events, its acts on the in-memory fakes: the caller is the verified
identity of the request context (never a body field), a body that does not fit gets a 422 naming the field, and
each refusal is a typed 4xx, never a 500."""

from __future__ import annotations

import dataclasses
import json
from types import ModuleType
from typing import Any

import pytest

from slipway import layout
from slipway.ports import Deps
from slipway.stores import audit, reproductions
from slipway.stores.registry import ModelRegistry
from tests.fakes import fake_deps
from tests.unit.promotion.support import settings
from tests.unit.serving.test_infer_handler import load_app
from tests.unit.steps.support import spec_text

CAROL = "arn:aws:sts::111111111111:assumed-role/slipway-dev-ml-engineer/carol"


def event(method: str, route: str, path: str, body: Any, caller: str | None = CAROL) -> dict[str, Any]:
    parameters = dict(zip(("model", "alias"), path.split("/")[3::2], strict=False)) if "/models/" in path else None
    context: dict[str, Any] = {
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "t"},
        "requestId": "req-operate",
        "routeKey": f"{method} {route}",
        "stage": "$default",
    }
    if caller is not None:
        context["authorizer"] = {"iam": {"userArn": caller, "accountId": caller.split(":")[4]}}
    return {
        "version": "2.0",
        "routeKey": f"{method} {route}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": context,
        "pathParameters": parameters,
        "body": body if isinstance(body, str) else json.dumps(body),
        "isBase64Encoded": False,
    }


@pytest.fixture
def operate(monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, Deps]:
    app = load_app("operate")
    deps = fake_deps(
        dataclasses.replace(settings("dev"), promotion_state_machine_arn="arn:aws:states:::stateMachine:p")
    )
    monkeypatch.setattr(app, "deps", lambda: deps)
    return app, deps


def call(app: ModuleType, request: dict[str, Any]) -> tuple[int, Any]:
    answer = app.lambda_handler(request, None)
    return answer["statusCode"], json.loads(answer["body"])


def test_a_spec_push_is_audited_with_the_verified_caller_not_a_body_field(operate: tuple[ModuleType, Deps]) -> None:
    app, deps = operate
    # WHEN carol pushes a spec whose body also claims a principal
    body = {"spec": spec_text(), "reason": "first", "principal": "arn:aws:iam::1:user/someone-else"}
    status, answer = call(app, event("POST", "/v1/specs", "/v1/specs", body))
    # THEN the body is refused for the field it may not carry
    assert status == 422 and [e["field"] for e in answer["errors"]] == ["principal"]
    # WHEN she pushes it as the API expects THEN it is current and its audit entry names her
    status, answer = call(app, event("POST", "/v1/specs", "/v1/specs", {"spec": spec_text(), "reason": "first"}))
    assert status == 200 and answer["new"] is True
    [entry] = audit.trail(deps, "churn")
    assert (entry["kind"], entry["principal"], entry["reason"]) == ("spec-push", CAROL, "first")


@pytest.mark.parametrize(
    ("method", "route", "path", "body", "status", "field"),
    [
        (
            "POST",
            "/v1/models/{model}/approval",
            "/v1/models/churn/approval",
            {"decision": "maybe", "reason": "x"},
            422,
            "decision",
        ),
        ("POST", "/v1/models/{model}/approval", "/v1/models/churn/approval", {"decision": "approve"}, 422, "reason"),
        (
            "POST",
            "/v1/models/{model}/promotions",
            "/v1/models/churn/promotions",
            {"version": "1", "source_env": "qa"},
            422,
            "source_env",
        ),
        (
            "PUT",
            "/v1/models/{model}/aliases/{alias}",
            "/v1/models/churn/aliases/staging",
            {"version": 0, "reason": "x"},
            422,
            "version",
        ),
        ("POST", "/v1/models/{model}/rollback", "/v1/models/churn/rollback", "{not json", 400, None),
    ],
)
def test_a_body_that_does_not_fit_gets_a_4xx_naming_the_field(
    operate: tuple[ModuleType, Deps], method: str, route: str, path: str, body: Any, status: int, field: str | None
) -> None:
    app, _ = operate
    got, answer = call(app, event(method, route, path, body))
    assert got == status, answer
    if field is not None:
        assert field in [e["field"] for e in answer["errors"]]


def test_refusals_are_typed(operate: tuple[ModuleType, Deps]) -> None:
    app, deps = operate
    # nothing waits for approval: 404
    status, answer = call(
        app,
        event(
            "POST", "/v1/models/{model}/approval", "/v1/models/churn/approval", {"decision": "approve", "reason": "ok"}
        ),
    )
    assert status == 404 and "waits for approval" in answer["message"]
    # a read-only alias: 422 with the registry's reason
    deps.table.put(layout.item(layout.version_key("churn", 1), model="churn", version=1))
    route, path = "/v1/models/{model}/aliases/{alias}", "/v1/models/churn/aliases/champion"
    status, answer = call(app, event("PUT", route, path, {"version": 1, "reason": "try"}))
    assert status == 422 and "read-only" in answer["message"]
    assert ModelRegistry.of(deps).aliases("churn") == {}
    # no verified caller (a route without IAM authorization): 403, nothing done
    status, answer = call(
        app, event("POST", "/v1/specs", "/v1/specs", {"spec": spec_text(), "reason": "x"}, caller=None)
    )
    assert status == 403 and "verified caller" in answer["message"]
    assert audit.trail(deps, "churn") == []


def _reproduction(**change: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": "within_tolerance", "tolerance": 1e-9, "max_diff": 3e-16, "feature_set_matches": True,
        "metrics": [{"metric": "roc_auc", "recorded": 0.8, "reproduced": 0.8000000000000003, "diff": 3e-16},
                    {"metric": "accuracy", "recorded": 0.75, "reproduced": 0.75, "diff": 0.0}],
        "where": {"runner": "slipway reproduce (CLI)", "host": "laptop", "python": "3.13.1",
                  "libraries": {"scikit-learn": "1.6.1"}, "blas": [{"internal_api": "openblas", "num_threads": 2}]},
    }  # fmt: skip
    return body | change


def test_a_reproduction_is_recorded_in_the_callers_name_when_its_numbers_agree(
    operate: tuple[ModuleType, Deps],
) -> None:
    app, deps = operate
    registry = ModelRegistry.of(deps)
    registry.register("churn", "run-1", {"test_metrics": {"roc_auc": 0.8, "accuracy": 0.75}})
    route, path = "/v1/models/{model}/versions/{version}/reproductions", "/v1/models/churn/versions/1/reproductions"
    # WHEN carol records what `slipway reproduce churn@1` found
    status, answer = call(app, event("POST", route, path, _reproduction()))
    # THEN it is kept under her verified name, with where it ran and what it compared
    assert status == 201, answer
    [kept] = reproductions.latest(deps, "churn", 1)
    assert (kept["principal"], kept["status"], kept["where"]["host"]) == (CAROL, "within_tolerance", "laptop")
    assert [m["metric"] for m in kept["metrics"]] == ["roc_auc", "accuracy"]
    # AND nothing else was written: no alias, no audit entry
    assert registry.aliases("churn") == {} and audit.trail(deps, "churn") == []


@pytest.mark.parametrize(
    ("path", "body", "said"),
    [
        ("/v1/models/churn/versions/1/reproductions", _reproduction(principal="someone-else"), "principal"),
        ("/v1/models/churn/versions/1/reproductions", _reproduction(status="identical"), "status"),
        ("/v1/models/churn/versions/1/reproductions", _reproduction(max_diff=0.0), "max_diff"),
        (
            "/v1/models/churn/versions/1/reproductions",
            _reproduction(metrics=[{"metric": "roc_auc", "recorded": 0.99, "reproduced": 0.99, "diff": 0.0}]),
            "metrics[0].recorded",
        ),
        ("/v1/models/churn/versions/one/reproductions", _reproduction(), "version"),
        ("/v1/models/churn/versions/7/reproductions", _reproduction(), "no version 7"),
    ],
    ids=["forged-principal", "identical-with-a-difference", "wrong-max-diff", "not-the-registrys", "version", "absent"],
)
def test_a_reproduction_that_does_not_agree_is_refused_naming_why(
    operate: tuple[ModuleType, Deps], path: str, body: dict[str, Any], said: str
) -> None:
    app, deps = operate
    ModelRegistry.of(deps).register("churn", "run-1", {"test_metrics": {"roc_auc": 0.8, "accuracy": 0.75}})
    status, answer = call(app, event("POST", "/v1/models/{model}/versions/{version}/reproductions", path, body))
    assert status in (404, 422), answer
    assert said in json.dumps(answer)
    assert reproductions.latest(deps, "churn", 1) == []
