"""The inference service on the fakes: predictions equal the registered model's own output, rows are
checked against the data contract (row, field, check), champion/challenger routing is sticky and
splits by weight, a tampered ONNX object is refused, captures and feedback are delivered."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from slipway import layout
from slipway.domain.features import model_input_frame
from slipway.errors import ArtifactIntegrityError, ConflictError, NotFound
from slipway.objects import S3Object
from slipway.serving.service import InferenceService, InvalidRequest, NothingInProduction
from slipway.stores.artifacts import load_verified_model
from slipway.stores.features import feature_inputs
from slipway.stores.registry import ModelRegistry
from slipway_cli.samples import make_churn
from tests.fakes import FakeCaptureSink, fork
from tests.unit.serving.conftest import Registered


def rows(n: int, seed: int = 3) -> list[dict[str, Any]]:
    """JSON rows as a client sends them: the churn sample's columns, timestamps as ISO strings."""
    frame = make_churn(n_rows=n, seed=seed).drop(columns=["churned"])
    records = frame.to_dict(orient="records")
    for r in records:
        r["signup_date"] = str(r["signup_date"])[:10]
        for k, v in list(r.items()):
            if isinstance(v, float) and np.isnan(v):
                r[k] = None
            elif isinstance(v, np.generic):
                r[k] = v.item()
    return records


def in_production(two_versions: Registered, version: int = 1) -> tuple[InferenceService, ModelRegistry]:
    deps = fork(two_versions.deps)
    registry = ModelRegistry.of(deps)
    registry.set_alias("churn", "production", version, actor="test", reason="serve")
    return InferenceService(deps, alias_ttl_s=0), registry


def test_predictions_equal_the_registered_models_own_output(two_versions: Registered) -> None:
    # GIVEN version 1 in production
    service, registry = in_production(two_versions)
    sent = rows(25)

    # WHEN 25 rows are sent in one request
    result = service.predict("churn", sent, "req-1")

    # THEN each probability is the registered scikit-learn pipeline's on the same rows (within ONNX's float32)
    item = registry.get_version("churn", 1)
    pipeline = load_verified_model(service.deps.store, item["artifacts"][layout.MODEL_SKOPS])
    frame = model_input_frame(sent, feature_inputs(item["inputs"]))
    expected = pipeline.predict_proba(frame)[:, 1]
    got = np.array([p["1"] for p in result.body["probabilities"]])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert result.body["predictions"] == [int(p > 0.5) for p in expected]
    assert (result.body["model"], result.body["version"], result.body["variant"]) == ("churn", 1, "production")
    assert result.body["request_id"] == "req-1" and len(result.body["variants"]) == 25


@pytest.mark.parametrize(
    ("change", "field", "check"),
    [
        ({"age": "forty"}, "age", "type"),
        ({"age": 17.5}, "age", "type"),
        ({"age": 140}, "age", "max"),
        ({"monthly_charges": -5.0}, "monthly_charges", "min"),
        ({"plan": "platinum"}, "plan", "allowed"),
        ({"tenure_months": None}, "tenure_months", "not_null"),
        ({"signup_date": "last tuesday"}, "signup_date", "type"),
        ({"tenure_mnths": 3}, "tenure_mnths", "unknown_field"),
        ({"monthly_charges": float("inf")}, "monthly_charges", "type"),
    ],
)
def test_a_row_that_breaks_the_contract_is_refused_naming_row_field_and_check(
    two_versions: Registered, change: dict[str, Any], field: str, check: str
) -> None:
    service, _ = in_production(two_versions)
    sent = rows(3)
    sent[2] = {**sent[2], **change}
    with pytest.raises(InvalidRequest) as refused:
        service.predict("churn", sent, "req-bad")
    assert {(e["row"], e["field"], e["check"]) for e in refused.value.details["errors"]} == {(2, field, check)}


def test_a_missing_column_is_named(two_versions: Registered) -> None:
    service, _ = in_production(two_versions)
    sent = rows(1)
    del sent[0]["plan"]
    with pytest.raises(InvalidRequest) as refused:
        service.predict("churn", sent, "req")
    assert [(e["row"], e["field"], e["check"]) for e in refused.value.details["errors"]] == [(0, "plan", "missing")]


def test_unknown_model_and_nothing_in_production_are_not_found(two_versions: Registered) -> None:
    service = InferenceService(fork(two_versions.deps), alias_ttl_s=0)
    with pytest.raises(NothingInProduction, match="no version in production"):
        service.predict("churn", rows(1), "req")
    with pytest.raises(NotFound, match="no model named 'fraud'"):
        service.predict("fraud", rows(1), "req")


def test_the_challenger_gets_its_share_and_every_entity_keeps_its_variant(two_versions: Registered) -> None:
    # GIVEN version 1 in production and version 2 as challenger at 20 %
    service, registry = in_production(two_versions)
    registry.set_alias("churn", "challenger", 2, actor="test", reason="a/b", weight=0.2)
    row = rows(1)[0]

    # WHEN 10,000 customers are routed (by entity id), twice
    routing = service.routing("churn")
    first = [routing.choose(f"C{n:06d}").name for n in range(10_000)]
    again = [routing.choose(f"C{n:06d}").name for n in range(10_000)]

    # THEN 20 % ± 2 % go to the challenger, and each keeps its variant
    assert abs(first.count("challenger") / 10_000 - 0.2) <= 0.02
    assert first == again
    # AND a request names the variant and version that answered
    answered = service.predict("churn", [{**row, "customer_id": "C000001"}], "req")
    expected = {"production": 1, "challenger": 2}[first[1]]
    assert (answered.body["variant"], answered.body["version"]) == (first[1], expected)


def test_a_tampered_onnx_object_is_refused(two_versions: Registered) -> None:
    # GIVEN the ONNX object of version 1 overwritten after registration
    service, registry = in_production(two_versions)
    onnx = registry.get_version("churn", 1)["artifacts"][layout.MODEL_ONNX]
    service.deps.store.put_bytes(S3Object.parse(onnx["uri"]), b"not the registered model")

    # WHEN it is asked to predict THEN it refuses, naming the artifact, and does not cache the refusal
    with pytest.raises(ArtifactIntegrityError, match=r"model\.onnx"):
        service.predict("churn", rows(1), "req")
    with pytest.raises(ArtifactIntegrityError):
        service.predict("churn", rows(1), "req")


def test_a_failing_challenger_is_captured_as_errors_and_production_answers_its_rows(
    two_versions: Registered,
) -> None:
    # GIVEN version 2 as a 50 % challenger whose ONNX object was overwritten after registration
    service, registry = in_production(two_versions)
    registry.set_alias("churn", "challenger", 2, actor="test", reason="canary", weight=0.5)
    onnx = registry.get_version("churn", 2)["artifacts"][layout.MODEL_ONNX]
    service.deps.store.put_bytes(S3Object.parse(onnx["uri"]), b"not the registered model")
    sent = [{**row, "customer_id": f"C{n:06d}"} for n, row in enumerate(rows(40))]
    routed = [service.routing("churn").choose(r["customer_id"]).name for r in sent]
    assert 0 < routed.count("challenger") < 40

    # WHEN the rows are predicted
    answer = service.predict("churn", sent, "req-c").body

    # THEN every row is answered by production, as production alone would answer it
    assert answer["variants"] == ["production"] * 40 and answer["version"] == 1
    alone, _ = in_production(two_versions)
    assert answer["probabilities"] == alone.predict("churn", sent, "req-p").body["probabilities"]
    # AND each challenger row is captured as the challenger's error, the others as production's predictions
    assert service.captures.flush()
    sink = service.deps.captures
    assert isinstance(sink, FakeCaptureSink)
    errors = [r for r in sink.records if r.get("error")]
    assert sorted(r["row"] for r in errors) == [n for n, v in enumerate(routed) if v == "challenger"]
    assert {(r["variant"], r["version"], r["error"]) for r in errors} == {("challenger", 2, "ArtifactIntegrityError")}
    served = [r for r in sink.records if r["kind"] == "captures" and not r.get("error")]
    assert len(served) == 40 and {(r["variant"], r["version"]) for r in served} == {("production", 1)}


def test_captures_carry_each_variants_own_time_apart_from_the_requests(two_versions: Registered) -> None:
    # GIVEN a 50 % challenger, neither version loaded yet
    service, registry = in_production(two_versions)
    registry.set_alias("churn", "challenger", 2, actor="test", reason="canary", weight=0.5)
    sent = [{**row, "customer_id": f"C{n:06d}"} for n, row in enumerate(rows(20))]
    # WHEN one request loads both models and predicts
    service.predict("churn", sent, "req-t")
    assert service.captures.flush()
    sink = service.deps.captures
    assert isinstance(sink, FakeCaptureSink)
    # THEN each row carries the request's latency (loads included) and its variant's own time, which is less
    by_variant = {r["variant"]: r for r in sink.records}
    assert set(by_variant) == {"production", "challenger"}
    for record in by_variant.values():
        assert 0 < record["model_ms"] < record["latency_ms"]
    assert len({r["latency_ms"] for r in sink.records}) == 1


def test_a_failing_production_fails_the_request_and_is_captured(two_versions: Registered) -> None:
    service, registry = in_production(two_versions)
    onnx = registry.get_version("churn", 1)["artifacts"][layout.MODEL_ONNX]
    service.deps.store.put_bytes(S3Object.parse(onnx["uri"]), b"not the registered model")
    with pytest.raises(ArtifactIntegrityError):
        service.predict("churn", rows(3), "req-x")
    assert service.captures.flush()
    sink = service.deps.captures
    assert isinstance(sink, FakeCaptureSink)
    assert [(r["variant"], r["row"], r["error"]) for r in sink.records] == [
        ("production", n, "ArtifactIntegrityError") for n in range(3)
    ]


def test_captures_and_feedback_are_delivered_and_join_by_request_id(two_versions: Registered) -> None:
    service, _ = in_production(two_versions)
    sent = rows(2)
    service.predict("churn", sent, "req-7")
    service.feedback("churn", [{"request_id": "req-7", "row": 1, "actual": 1}], "fb-1")
    assert service.captures.flush()

    sink = service.deps.captures
    assert isinstance(sink, FakeCaptureSink)
    captured = [r for r in sink.records if r["kind"] == "captures"]
    feedback = [r for r in sink.records if r["kind"] == "feedback"]
    assert [(r["request_id"], r["row"], r["version"]) for r in captured] == [("req-7", 0, 1), ("req-7", 1, 1)]
    assert captured[1]["inputs"]["age"] == sent[1]["age"] and "1" in captured[1]["probabilities"]
    joined = [c for c in captured if (c["request_id"], c["row"]) == (feedback[0]["request_id"], feedback[0]["row"])]
    assert len(joined) == 1 and feedback[0]["actual"] == 1


def test_feedback_of_the_wrong_type_is_refused(two_versions: Registered) -> None:
    service, _ = in_production(two_versions)
    with pytest.raises(InvalidRequest) as refused:
        service.feedback("churn", [{"request_id": "r", "actual": "yes"}], "fb")
    assert refused.value.details["errors"][0]["field"] == "actual"


def test_describe_shows_served_versions_weights_and_the_input_schema(two_versions: Registered) -> None:
    service, registry = in_production(two_versions)
    registry.set_alias("churn", "challenger", 2, actor="test", reason="a/b", weight=0.25)
    described = service.describe("churn")
    assert described["served"] == [
        {"variant": "production", "version": 1, "weight": 0.75},
        {"variant": "challenger", "version": 2, "weight": 0.25},
    ]
    schema = described["input_schema"]
    assert schema["properties"]["plan"]["enum"] == ["basic", "standard", "premium"]
    assert schema["properties"]["churned"] == {"description": "accepted, not read by the model"}
    assert schema["additionalProperties"] is False and "email" not in schema["required"]


def test_alias_moves_are_guarded_by_the_expected_previous_version(two_versions: Registered) -> None:
    _, registry = in_production(two_versions)
    with pytest.raises(ConflictError):
        registry.set_alias("churn", "production", 2, actor="a", reason="r", expect_previous=2)
    registry.set_alias("churn", "production", 2, actor="a", reason="r", expect_previous=1)
    assert registry.alias("churn", "production") == 2
    with pytest.raises(ValueError, match="weight"):
        registry.set_alias("churn", "production", 1, actor="a", reason="r", weight=0.5)


def test_explanations_add_up_to_each_rows_probability_and_name_raw_features(two_versions: Registered) -> None:
    # GIVEN version 1 in production
    service, registry = in_production(two_versions)
    item = registry.get_version("churn", 1)
    assert item["explanations"]["status"] == "ok", item["explanations"]

    # WHEN 30 rows are sent with "explain": true
    result = service.predict("churn", rows(30), "req-x", explain=True)

    # THEN each row's base + contributions is its served probability of the positive class, in the explained units
    explained = result.body["explanations"]
    assert len(explained) == 30
    for probabilities, explanation in zip(result.body["probabilities"], explained, strict=True):
        raw = explanation["base"] + sum(explanation["contributions"].values())
        if explanation["output"] == "log-odds":
            raw = 1 / (1 + np.exp(-raw))
        assert explanation["output"] in ("log-odds", "probability") and explanation["label"] == 1
        assert abs(raw - probabilities["1"]) <= 1e-5
        # AND the contributions are per raw input (a categorical's one-hot levels summed; the spec's ratio of two
        # inputs under its own name), largest first
        assert set(explanation["contributions"]) == {i["name"] for i in item["inputs"]} | {"late_payment_rate"}
        sizes = [abs(v) for v in explanation["contributions"].values()]
        assert sizes == sorted(sizes, reverse=True)
    # AND the predictions are the same as without explanations
    plain = service.predict("churn", rows(30), "req-y")
    assert plain.body["predictions"] == result.body["predictions"] and "explanations" not in plain.body


def test_a_version_without_an_explainer_is_refused_with_the_reason(two_versions: Registered) -> None:
    # GIVEN version 1 in production, registered (as before explanations existed) without an explainer
    service, registry = in_production(two_versions)
    artifacts = dict(registry.get_version("churn", 1)["artifacts"])
    del artifacts[layout.EXPLAINER]
    registry.record_artifacts("churn", 1, artifacts)

    # WHEN a request asks for explanations THEN it is refused naming the field; without, it is answered
    with pytest.raises(InvalidRequest) as refused:
        service.predict("churn", rows(2), "req", explain=True)
    assert refused.value.details["errors"][0]["field"] == "explain"
    assert "churn@1 cannot explain its predictions" in refused.value.details["errors"][0]["message"]
    assert len(service.predict("churn", rows(2), "req").body["predictions"]) == 2


def test_a_tampered_explainer_is_refused(two_versions: Registered) -> None:
    # GIVEN the explainer object of version 1 overwritten after registration
    service, registry = in_production(two_versions)
    explainer = registry.get_version("churn", 1)["artifacts"][layout.EXPLAINER]
    service.deps.store.put_bytes(S3Object.parse(explainer["uri"]), b"not the registered explainer")

    # WHEN explanations are asked for THEN the explainer is refused, naming it
    with pytest.raises(ArtifactIntegrityError, match=r"explainer\.npz"):
        service.predict("churn", rows(1), "req", explain=True)
