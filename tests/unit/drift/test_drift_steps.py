"""The drift check and the retraining request on the fakes: served traffic against the registered reference,
recorded as a table item and a report the version links to; one retraining per cooldown."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from slipway import layout
from slipway.contracts.drift import DriftCheck, DriftRequest, RetrainingRequest
from slipway.errors import InvalidEvent, NotFound
from slipway.objects import S3Object
from slipway.ports import Deps
from slipway.steps.drift.compute_drift import compute_drift
from slipway.steps.drift.request_retraining import request_retraining
from slipway.stores.registry import ModelRegistry
from tests.fakes import FakeEventBus, ManualClock
from tests.unit.drift.conftest import feedback, serve


def check(deps: Deps, check_id: str = "check-1", **extra: Any) -> DriftCheck:
    return compute_drift(deps, DriftRequest.from_event({"model": "churn", "check_id": check_id, **extra}))


def shifted(row: dict[str, Any]) -> dict[str, Any]:
    """Two features moved: tenure far longer, every customer on a two-year contract."""
    return {**row, "tenure_months": min(int(row["tenure_months"]) * 3 + 24, 120), "contract_type": "two-year"}


def test_undrifted_traffic_is_checked_recorded_and_linked_from_the_version(dev: Deps) -> None:
    # GIVEN 400 requests like the training data served by version 1
    serve(dev, 400)
    # WHEN the check runs
    result = check(dev)
    # THEN nothing drifted, and the check is a table item, a report and a link on the version
    assert (result.status, result.version, result.rows, result.drifted) == ("checked", 1, 400, False)
    assert (result.dataset, result.prediction, result.performance) == ("no_drift", "no_drift", "insufficient_data")
    assert result.drifted_features == [] and not result.retrain
    items = dev.table.query(*layout.drift_checks("churn"))
    assert [i["check_id"] for i in items] == ["check-1"] and items[0]["features"]
    version = ModelRegistry.of(dev).get_version("churn", 1)
    assert version["drift_report_uri"] == result.report_uri and version["drift_verdict"] == "no_drift"
    page = dev.store.get_bytes(S3Object.parse(str(result.report_uri))).decode()
    assert "<svg" in page and "tenure_months" in page and "http" not in page.replace("http://www.w3.org", "")
    data = dev.store.get_json(S3Object.parse(str(result.result_uri)))
    assert {f["name"] for f in data["features"]} >= {"tenure_months", "contract_type", "monthly_charges"}


def test_two_shifted_features_are_found_and_ask_for_retraining(dev: Deps) -> None:
    serve(dev, 400, shift=shifted)
    result = check(dev)
    assert result.drifted and result.dataset == "no_drift"  # 2 of many features: under the 0.5 share
    assert set(result.drifted_features) == {"tenure_months", "contract_type"}
    assert result.prediction == "drift" and result.retrain and result.policy == "retrain"


def test_too_little_traffic_gives_no_verdict(dev: Deps) -> None:
    serve(dev, 20, shift=shifted)
    result = check(dev)
    assert (result.rows, result.dataset, result.prediction, result.drifted) == (
        20,
        "insufficient_data",
        "insufficient_data",
        False,
    )
    assert "insufficient data" in result.reason


def test_performance_drift_trips_on_wrong_feedback_alone(dev: Deps) -> None:
    # GIVEN undrifted traffic whose feedback says 40% of the predictions were wrong
    answers = serve(dev, 300)
    feedback(dev, answers, wrong=0.4)
    result = check(dev)
    # THEN performance alone drifts
    assert (result.labelled, result.dataset, result.prediction, result.performance) == (
        300,
        "no_drift",
        "no_drift",
        "drift",
    )
    assert result.drifted and "accuracy" in result.reason


def test_feedback_that_agrees_is_no_performance_drift(dev: Deps) -> None:
    answers = serve(dev, 300)
    feedback(dev, answers[:200], wrong=0.0)
    result = check(dev)
    assert (result.labelled, result.performance) == (200, "no_drift")


def test_traffic_outside_the_window_and_of_other_versions_is_left_out(dev: Deps) -> None:
    serve(dev, 100, shift=shifted)
    assert isinstance(dev.clock, ManualClock)
    dev.clock.advance(timedelta(days=2))
    serve(dev, 150, seed=4)
    result = check(dev)
    assert result.rows == 150 and not result.drifted
    assert check(dev, "check-2", window="3d").rows == 250


def test_nothing_in_production_is_said_and_bad_requests_are_typed(dev: Deps) -> None:
    ModelRegistry.of(dev).clear_alias("churn", "production", actor="test", reason="retire")
    assert check(dev).status == "nothing_in_production"
    with pytest.raises(InvalidEvent):
        DriftRequest.from_event({"model": "churn"})


def test_a_version_without_a_reference_is_refused_typed(dev: Deps) -> None:
    registry = ModelRegistry.of(dev)
    item = registry.get_version("churn", 1)
    artifacts = {k: v for k, v in item["artifacts"].items() if k != layout.DRIFT_REFERENCE}
    dev.table.update(*layout.version_key("churn", 1), {"artifacts": artifacts})
    with pytest.raises(NotFound, match="no drift reference"):
        check(dev)


def test_one_retraining_per_cooldown_however_many_checks_drift(dev: Deps) -> None:
    serve(dev, 300, shift=shifted)
    bus = dev.events
    assert isinstance(bus, FakeEventBus) and isinstance(dev.clock, ManualClock)
    first = request_retraining(dev, RetrainingRequest(check=check(dev, "c1")))
    again = request_retraining(dev, RetrainingRequest(check=check(dev, "c1")))  # a retried step
    second = request_retraining(dev, RetrainingRequest(check=check(dev, "c2")))
    assert first.requested and again.requested and again.event_id == first.event_id
    assert not second.requested and "inside the cooldown" in second.reason
    sent = [e for e in bus.published if e["detail-type"] == "DriftDetected"]
    assert len(sent) == 1 and sent[0]["detail"]["model"] == "churn" and sent[0]["detail"]["check_id"] == "c1"
    # WHEN the cooldown (1 day) has passed THEN the next drifted check asks again
    dev.clock.advance(timedelta(days=1, seconds=1))
    serve(dev, 300, shift=shifted, prefix="later")
    assert request_retraining(dev, RetrainingRequest(check=check(dev, "c3"))).requested
    assert len([e for e in bus.published if e["detail-type"] == "DriftDetected"]) == 2


def test_a_check_without_drift_asks_nothing(dev: Deps) -> None:
    serve(dev, 200)
    decision = request_retraining(dev, RetrainingRequest(check=check(dev)))
    assert not decision.requested and dev.table.get(*layout.retraining_key("churn")) is None


def test_the_performance_metric_follows_the_spec_then_training_and_fits_the_classes() -> None:
    from slipway.spec.monitoring import MonitoringSpec
    from slipway.steps.drift.compute_drift import _performance_metric

    default, chosen = MonitoringSpec(), MonitoringSpec.model_validate({"performance": {"metric": "log_loss"}})
    assert _performance_metric(default, "classification", "roc_auc", 2) == "roc_auc"
    assert _performance_metric(default, "classification", "roc_auc", 3) == "accuracy"  # binary-only metric
    assert _performance_metric(default, "classification", "f1_macro", 3) == "accuracy"  # not bootstrapped
    assert _performance_metric(default, "regression", "r2", 0) == "r2"
    assert _performance_metric(chosen, "classification", "roc_auc", 3) == "log_loss"
