"""The model spec: a good spec loads, each bad field is named, and the version is a content hash."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from slipway.errors import SpecError
from slipway.spec import ModelSpec, dump_spec_yaml, load_spec, spec_version

CHURN_SPEC = Path(__file__).resolve().parents[2] / "specs" / "churn.yaml"

MINIMAL: dict[str, Any] = {
    "name": "demo",
    "data": {
        "target": "y",
        "columns": [
            {"name": "x", "type": "float", "min": 0, "max": 10},
            {"name": "t", "type": "timestamp"},
            {"name": "s", "type": "string"},
            {"name": "y", "type": "int", "allowed": [0, 1]},
        ],
    },
}


def _load(overrides: dict[str, Any]) -> ModelSpec:
    """Load MINIMAL with dotted-path overrides such as ``{"data.columns.0.min": 5}``."""
    raw = yaml.safe_load(yaml.safe_dump(MINIMAL))
    for path, value in overrides.items():
        *parents, leaf = path.split(".")
        node = raw
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(leaf)] = value
        else:
            node[leaf] = value
    return load_spec(yaml.safe_dump(raw))


def _fields(exc: pytest.ExceptionInfo[SpecError]) -> list[str]:
    return [e["field"] for e in exc.value.details["errors"]]


def test_churn_spec_loads_with_its_contract() -> None:
    # GIVEN the example spec WHEN it is loaded
    spec = load_spec(CHURN_SPEC.read_text())

    # THEN its contract says what the YAML says
    data = spec.data
    assert spec.name == "churn"
    assert (data.target, data.timestamp, data.entity_id, data.sensitive) == (
        "churned",
        "signup_date",
        "customer_id",
        ["gender"],
    )
    assert data.min_rows == 1000
    assert data.column("customer_id").unique and data.column("customer_id").regex == r"^C\d{6}$"
    assert data.column("email").pii == "hash"
    assert (data.column("age").min, data.column("age").max) == (18, 90)
    assert data.column("signup_date").min == "2015-01-01T00:00:00+00:00"
    assert data.names[:3] == ["customer_id", "signup_date", "email"]


def test_spec_accepts_bytes_and_unquoted_dates() -> None:
    # GIVEN YAML bytes with a bare date as a timestamp bound (YAML reads it as a date)
    column = "{name: t, type: timestamp, min: 2020-01-01, max: 2021-06-30}"
    text = f"name: demo\ndata:\n  target: t\n  columns:\n    - {column}\n"

    # WHEN loaded THEN the bounds are normalised to UTC ISO text
    column = load_spec(text.encode()).data.column("t")
    assert (column.min, column.max) == ("2020-01-01T00:00:00+00:00", "2021-06-30T00:00:00+00:00")


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"name": "Churn Model"}, "name", "pattern"),
        ({"data.columns.0.min": 50}, "data.columns.0.max", "smaller than min"),
        ({"data.columns.0.type": "decimal"}, "data.columns.0.type", "int"),
        ({"data.columns.2.min": 1}, "data.columns.2.min", "only to int, float and timestamp"),
        ({"data.columns.0.regex": "[0-9]+"}, "data.columns.0.regex", "only to string and category"),
        ({"data.columns.2.regex": "(unclosed"}, "data.columns.2.regex", "does not compile"),
        ({"data.columns.2.regex": "(?=a)b"}, "data.columns.2.regex", "RE2"),
        ({"data.columns.1.min": "yesterday"}, "data.columns.1.min", "ISO-8601"),
        ({"data.columns.0.max": "1999-01-01"}, "data.columns.0.max", "must be a number"),
        ({"data.columns.3.allowed": ["yes", "no"]}, "data.columns.3.allowed", "do not fit a int column"),
        ({"data.columns.2.pii": "encrypt"}, "data.columns.2.pii", "'hash', 'drop' or 'keep'"),
        ({"data.columns.2.colour": "red"}, "data.columns.2.colour", "Extra inputs"),
        ({"data.columns": []}, "data.columns", "at least 1"),
        ({"data.columns.2.name": "x"}, "data.columns", "repeated: x"),
        ({"data.target": "label"}, "data.target", "not a declared column"),
        ({"data.columns.3.pii": "drop"}, "data.target", "PII-dropped"),
        ({"data.timestamp": "x"}, "data.timestamp", "must be a timestamp column"),
        ({"data.entity_id": "id"}, "data.entity_id", "not a declared column"),
        ({"data.sensitive": ["gender"]}, "data.sensitive", "not declared columns"),
        ({"data.min_rows": 10, "data.max_rows": 5}, "data.max_rows", "smaller than min_rows"),
        ({"training": {"task": "classification"}}, "training.candidates", "Field required"),
        ({"training": {"task": "forecast", "metric": "mape", "candidates": []}}, "training.task", "Input should be"),
        ({"monitoring": {"every": "1h"}}, "monitoring.every", "Extra inputs"),
        ({"monitoring": {"schedule": "every 1h"}}, "monitoring.schedule", "EventBridge schedule"),
        ({"monitoring": {"schedule": "rate(1 days)"}}, "monitoring.schedule", "singular"),
        ({"monitoring": {"retraining": {"policy": "always"}}}, "monitoring.retraining.policy", "Input should be"),
        ({"monitoring": {"performance": {"metric": "f1_macro"}}}, "monitoring.performance.metric", "must be one of"),
    ],
)
def test_each_bad_field_is_named(overrides: dict[str, Any], field: str, words: str) -> None:
    # GIVEN a spec with one bad field WHEN it is loaded
    with pytest.raises(SpecError) as exc:
        _load(overrides)

    # THEN the error names that field and says what is wrong with it
    errors = {e["field"]: e["message"] for e in exc.value.details["errors"]}
    assert field in errors, errors
    assert words in errors[field]
    assert field in exc.value.message


def test_timestamp_max_before_min_is_named() -> None:
    with pytest.raises(SpecError) as exc:
        _load({"data.columns.1.min": "2022-01-01", "data.columns.1.max": "2021-01-01T00:00:00+02:00"})
    assert _fields(exc) == ["data.columns.1.max"]
    assert "earlier than min" in exc.value.message


def test_several_bad_fields_are_all_reported() -> None:
    # GIVEN two independent mistakes WHEN loaded THEN both are reported at once
    with pytest.raises(SpecError) as exc:
        _load({"name": "X", "data.columns.0.min": "low"})
    assert _fields(exc) == ["name", "data.columns.0.min"]


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("name: demo\ndata: [unclosed\n", "(yaml)", "YAML syntax error at line 3"),
        ("- just\n- a list\n", "(spec)", "mapping"),
    ],
)
def test_unreadable_yaml_is_a_spec_error(text: str, field: str, words: str) -> None:
    with pytest.raises(SpecError) as exc:
        load_spec(text)
    assert _fields(exc) == [field]
    assert words in exc.value.details["errors"][0]["message"]


def test_spec_version_is_a_content_hash() -> None:
    # GIVEN the churn spec, and the same content written differently (defaults spelled out, flow style)
    spec = load_spec(CHURN_SPEC.read_text())
    raw = spec.model_dump(mode="json")
    rewritten = load_spec(yaml.safe_dump(raw, default_flow_style=True, sort_keys=True))

    # THEN both have the same 64-hex version, stable across calls
    version = spec_version(spec)
    assert re.fullmatch(r"[0-9a-f]{64}", version)
    assert spec_version(rewritten) == version == spec_version(load_spec(CHURN_SPEC.read_text()))

    # AND any change to the contract changes the version
    raw["data"]["columns"][3]["max"] = 95
    assert spec_version(load_spec(yaml.safe_dump(raw))) != version
    assert spec_version(spec.model_copy(update={"description": "other"})) != version


def test_a_field_slipway_adds_later_leaves_existing_spec_versions_alone() -> None:
    # GIVEN the churn spec's version, hashed as a slipway without training.refit did (the field left out)
    spec = load_spec(CHURN_SPEC.read_text())
    raw = spec.model_dump(mode="json", exclude_defaults=True)
    assert "refit" not in raw["training"]
    before = hashlib.sha256(json.dumps(raw, sort_keys=True, separators=(",", ":")).encode()).hexdigest()

    # WHEN this slipway, which knows the field (default false), hashes the same spec THEN the version is the same,
    # so promoting a version trained before the upgrade still finds its manifest's spec hash
    assert spec_version(spec) == before
    # AND setting the new field is a change of content: a new version
    assert (
        spec_version(
            load_spec(
                CHURN_SPEC.read_text().replace("  task: classification", "  refit: true\n  task: classification", 1)
            )
        )
        != before
    )


def test_dump_spec_yaml_round_trips() -> None:
    spec = load_spec(CHURN_SPEC.read_text())
    text = dump_spec_yaml(spec)
    assert load_spec(text) == spec
    assert "nullable: false" not in text  # defaults are left out
    assert text.startswith("name: churn\n")


def test_spec_is_frozen() -> None:
    spec = load_spec(CHURN_SPEC.read_text())
    with pytest.raises(ValueError, match="frozen"):
        spec.data.columns[0].nullable = True  # type: ignore[misc]


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"gates": {"min_metrics": {"r2": 0.5}}}, "gates name metrics a classification model does not have: r2"),
        ({"data.sensitive": []}, "max_fairness_gap needs data.sensitive"),
        ({"training.task": "regression", "training.metric": "rmse"}, "logistic_regression is classification-only"),
        ({"features.transforms.0.columns": ["churned"]}, "churned"),
        ({"deployment.rollback.online_metric": {"metric": "rmse"}}, "online_metric rmse needs a regression model"),
    ],
)
def test_sections_are_checked_against_each_other(overrides: dict[str, Any], words: str) -> None:
    # GIVEN the churn spec with one section contradicting another
    raw = yaml.safe_load((Path(__file__).resolve().parents[2] / "specs" / "churn.yaml").read_text())
    for path, value in overrides.items():
        *parents, leaf = path.split(".")
        node = raw
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[leaf] = value
    # WHEN it is loaded THEN the error says which sections disagree
    with pytest.raises(SpecError) as exc:
        load_spec(yaml.safe_dump(raw))
    assert words in exc.value.message


# ---------------------------------------------------------------- deployment


def test_churn_spec_declares_its_deployment() -> None:
    # GIVEN the example spec WHEN loaded THEN its deployment section says what the YAML says
    deployment = load_spec(CHURN_SPEC.read_text()).deployment
    assert deployment is not None
    assert (deployment.canary_share, deployment.bake, deployment.min_canary_rows) == (0.2, 600, 100)
    rollback = deployment.rollback
    assert (rollback.max_error_rate, rollback.max_p99_latency_ms, rollback.max_prediction_shift) == (0.01, 250, 0.25)
    assert rollback.online_metric is None
    assert deployment.approval.required_for("prod") and not deployment.approval.required_for("staging")
    assert deployment.approval.timeout == 86400


def test_a_spec_without_deployment_gets_the_defaults_and_keeps_its_version() -> None:
    # GIVEN a spec written before the deployment section existed
    spec = _load({})
    # THEN it promotes with the defaults: 10 % canary for 10 minutes, prod approved by a person within a day
    assert spec.deployment is None
    defaults = spec.deployment_or_default
    assert (defaults.canary_share, defaults.bake, defaults.approval.prod, defaults.approval.staging) == (
        0.1,
        600,
        True,
        False,
    )
    # AND its version does not depend on the section it does not have
    assert "deployment" in spec.model_dump() and spec.model_dump()["deployment"] is None
    assert "deployment" not in dump_spec_yaml(spec)


@pytest.mark.parametrize(
    ("written", "seconds"),
    [(45, 45), ("45", 45), ("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400), (" 3 m ", 180)],
)
def test_durations_are_seconds_or_suffixed(written: Any, seconds: int) -> None:
    spec = _load({"deployment": {"bake": written, "approval": {"timeout": written}}})
    assert spec.deployment is not None
    assert spec.deployment.bake == spec.deployment.approval.timeout == seconds


def test_an_online_metric_is_judged_from_a_minimum_sample() -> None:
    spec = _load({"deployment": {"rollback": {"online_metric": {"metric": "accuracy", "max_drop": 0.05}}}})
    assert spec.deployment is not None
    online = spec.deployment.rollback.online_metric
    assert online is not None
    assert (online.metric, online.max_drop, online.min_samples, online.higher_is_better) == (
        "accuracy",
        0.05,
        100,
        True,
    )


def test_ceilings_can_be_switched_off() -> None:
    spec = _load({"deployment": {"rollback": {"max_p99_latency_ms": None, "max_prediction_shift": None}}})
    assert spec.deployment is not None
    assert spec.deployment.rollback.max_p99_latency_ms is None
    assert spec.deployment.rollback.max_prediction_shift is None
    assert spec.deployment.rollback.max_error_rate == 0.01


@pytest.mark.parametrize(
    ("deployment", "field", "words"),
    [
        ({"canary_share": 1.0}, "deployment.canary_share", "less than 1"),
        ({"canary_share": 0}, "deployment.canary_share", "greater than 0"),
        ({"bake": "ten minutes"}, "deployment.bake", "duration like"),
        ({"bake": True}, "deployment.bake", "duration like"),
        ({"bake": "0s"}, "deployment.bake", "greater than or equal to 1"),
        ({"bake": "400d"}, "deployment.bake", "less than or equal to 31536000"),
        ({"min_canary_rows": 0}, "deployment.min_canary_rows", "greater than or equal to 1"),
        ({"rollback": {"max_error_rate": 1.5}}, "deployment.rollback.max_error_rate", "less than or equal to 1"),
        ({"rollback": {"max_p99_latency_ms": 0}}, "deployment.rollback.max_p99_latency_ms", "greater than 0"),
        ({"rollback": {"online_metric": {"metric": "auc"}}}, "deployment.rollback.online_metric", "one of accuracy"),
        (
            {"rollback": {"online_metric": {"metric": "mae", "min_samples": 0}}},
            "deployment.rollback.online_metric.min_samples",
            "greater than or equal to 1",
        ),
        ({"approval": {"qa": True}}, "deployment.approval.qa", "Extra inputs"),
        ({"approval": {"timeout": "soon"}}, "deployment.approval.timeout", "duration like"),
        ({"canary": 0.1}, "deployment.canary", "Extra inputs"),
    ],
)
def test_each_bad_deployment_field_is_named(deployment: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(SpecError) as exc:
        _load({"deployment": deployment})
    errors = {e["field"]: e["message"] for e in exc.value.details["errors"]}
    assert field in errors, errors
    assert words in errors[field], errors[field]


def test_approval_is_asked_only_of_promotion_targets() -> None:
    approval = _load({}).deployment_or_default.approval
    assert [approval.required_for(env) for env in ("dev", "staging", "prod")] == [False, False, True]
    with pytest.raises(ValueError, match="staging or prod, not 'sandbox'"):
        approval.required_for("sandbox")
