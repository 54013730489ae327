"""Retraining on the fakes: a DriftDetected event starts one training run per drift check, and that run starts from
the latest curated upload plus the labelled captures (the served inputs and the feedback as target), which go
through features, training, gates and registration like an upload's dataset."""

from __future__ import annotations

from dataclasses import replace

import pyarrow.compute as pc
import pytest

from slipway import layout
from slipway.artifact_io import read_parquet
from slipway.contracts import StartedRun
from slipway.drift_contracts import CurateRetrainingRequest, RetrainingOrder, RetrainingRequest
from slipway.errors import DataContractViolation, InvalidEvent
from slipway.objects import S3Object
from slipway.ports import Deps
from slipway.registry import ModelRegistry
from slipway.steps.build_features import build_features
from slipway.steps.curate_retraining_set import curate_retraining_set
from slipway.steps.evaluate_challenger import evaluate_challenger
from slipway.steps.register_version import register_version
from slipway.steps.request_retraining import request_retraining
from slipway.steps.start_training import start_retraining
from slipway.steps.train_candidate import train_candidate
from slipway.steps.validate_dataset import validate_dataset
from tests.fakes import FakeEventBus, FakeWorkflows
from tests.unit.drift.conftest import feedback, serve
from tests.unit.drift.test_drift_steps import check, shifted
from tests.unit.steps.support import (
    churn_csv,
    evaluate_request,
    features_request,
    register_request,
    spec_pushed,
    train_requests,
    upload,
)


def drift_detected(deps: Deps) -> dict[str, object]:
    """Shifted traffic with feedback on part of it; the check asks for a retraining: its DriftDetected event."""
    answers = serve(deps, 300, shift=shifted)
    feedback(deps, answers[:120], wrong=0.2)
    assert request_retraining(deps, RetrainingRequest(check=check(deps, "c1"))).requested
    bus = deps.events
    assert isinstance(bus, FakeEventBus)
    (event,) = [e for e in bus.published if e["detail-type"] == "DriftDetected"]
    return event


def test_drift_detected_starts_one_retraining_run_per_check(dev: Deps) -> None:
    event = drift_detected(dev)
    order = RetrainingOrder.from_event(event)
    first, again = start_retraining(dev, order), start_retraining(dev, order)  # EventBridge delivers at least once
    assert isinstance(first, StartedRun) and isinstance(again, StartedRun)
    assert not first.already_exists and again.already_exists and again.run_id == first.run_id
    workflows = dev.workflows
    assert isinstance(workflows, FakeWorkflows)
    assert workflows.executions[first.execution_arn] == {"retrain": order.model_dump(mode="json")}
    assert first.run_id.startswith("retrain-churn-") and len(first.run_id) <= 80
    with pytest.raises(InvalidEvent):
        RetrainingOrder.from_event({"detail-type": "DriftDetected", "detail": {"model": "churn"}})


def test_the_retraining_set_is_the_upload_plus_labelled_captures(dev: Deps) -> None:
    order = RetrainingOrder.from_event(drift_detected(dev))
    base = ModelRegistry.of(dev).get_version("churn", 1)["dataset_version"]
    dataset = curate_retraining_set(dev, CurateRetrainingRequest(run_id="retrain-1", retrain=order))
    base_rows = dev.table.get(*layout.dataset_key("churn", base))["rows"]  # type: ignore[index]
    # THEN 120 labelled captures are appended to the upload's curated rows; the unlabelled 180 are not
    assert dataset.new and dataset.rows == base_rows + 120 and dataset.dataset_version != base
    table = read_parquet(dev.store, S3Object.parse(dataset.curated_uri))
    captured = table.slice(base_rows)
    assert pc.all(pc.equal(captured["contract_type"], "two-year")).as_py()  # the served (shifted) inputs
    assert captured["churned"].null_count == 0  # the feedback as target
    assert captured["email"].null_count == 120  # captures hold no PII columns: null, never hashed twice
    item = dev.table.get(*layout.dataset_key("churn", dataset.dataset_version))
    assert item is not None and item["origin"] == "retraining" and item["base_dataset_version"] == base
    # AND a retried step makes the same version, once
    again = curate_retraining_set(dev, CurateRetrainingRequest(run_id="retrain-1", retrain=order))
    assert again.dataset_version == dataset.dataset_version and again.new


def test_the_retraining_set_extends_the_upload_the_drifted_version_learned_from(dev: Deps) -> None:
    # GIVEN v1 in production, trained on the first upload, and a newer upload curated since whose version never
    # reached production (its gates failed, its canary rolled it back, or it waits for approval)
    v1 = ModelRegistry.of(dev).get_version("churn", 1)
    newer = validate_dataset(dev, upload(dev, "churn/newer.csv", churn_csv(n_rows=600, seed=11)), "run-newer")
    assert newer.dataset_version != v1["dataset_version"]
    # WHEN v1 drifts: the DriftDetected event says what v1 learned from
    order = RetrainingOrder.from_event(drift_detected(dev))
    assert order.dataset_version == v1["dataset_version"]
    dataset = curate_retraining_set(dev, CurateRetrainingRequest(run_id="retrain-4", retrain=order))
    # THEN the retraining set extends v1's upload, not the newer one
    item = dev.table.get(*layout.dataset_key("churn", dataset.dataset_version))
    assert item is not None and item["base_dataset_version"] == v1["dataset_version"]
    assert dataset.raw_uri == v1["raw_uri"] and dataset.raw_uri != newer.raw_uri
    # AND when the drifted version was itself retrained, its set's upload is the base again (no capture twice)
    retrained = RetrainingOrder(model="churn", check_id="c2", version=2, dataset_version=dataset.dataset_version)
    again = curate_retraining_set(dev, CurateRetrainingRequest(run_id="retrain-5", retrain=retrained))
    assert again.raw_uri == v1["raw_uri"] and again.rows == dataset.rows
    # AND an order that does not say (sent before events carried it) extends the newest curated upload
    unsaid = order.model_copy(update={"dataset_version": "", "check_id": "c3"})
    latest = curate_retraining_set(dev, CurateRetrainingRequest(run_id="retrain-6", retrain=unsaid))
    assert latest.raw_uri == newer.raw_uri
    with pytest.raises(InvalidEvent):  # a dataset version is a SHA-256
        RetrainingOrder.from_event(
            {"detail": {"model": "churn", "check_id": "c4", "version": 1, "dataset_version": "v1"}}
        )


def test_the_retraining_set_trains_through_the_gates_into_a_new_version(dev: Deps) -> None:
    order = RetrainingOrder.from_event(drift_detected(dev))
    dataset = curate_retraining_set(dev, CurateRetrainingRequest(run_id="retrain-2", retrain=order))
    features = build_features(dev, features_request("retrain-2", dataset))
    trained = [train_candidate(dev, r) for r in train_requests("retrain-2", features)]
    evaluation = evaluate_challenger(dev, evaluate_request("retrain-2", dataset, features, trained))
    assert evaluation.gate.passed, evaluation.gate.summary
    registered = register_version(dev, register_request("retrain-2", dataset, features, evaluation))
    assert registered.version == 2
    assert ModelRegistry.of(dev).get_version("churn", 2)["dataset_version"] == dataset.dataset_version


def test_without_a_curated_upload_there_is_nothing_to_retrain_on() -> None:
    deps = spec_pushed()  # a spec, but no upload yet
    order = RetrainingOrder(model="churn", check_id="c1", version=1)
    with pytest.raises(DataContractViolation, match="no curated upload"):
        curate_retraining_set(deps, CurateRetrainingRequest(run_id="r", retrain=order))


def test_where_versions_come_by_promotion_drift_starts_no_training(dev: Deps) -> None:
    prod = replace(dev, settings=replace(dev.settings, env="prod", promotion_source_env="staging"))
    why = start_retraining(prod, RetrainingOrder(model="churn", check_id="c1", version=1))
    assert why == "prod takes its versions by promotion: the drift is retrained in dev"
    workflows = prod.workflows
    assert isinstance(workflows, FakeWorkflows) and workflows.executions == {}


def test_drift_found_elsewhere_retrains_once_per_cooldown_in_dev(dev: Deps) -> None:
    # GIVEN drift found in staging and then in prod within the cooldown, both forwarded to dev
    in_staging = RetrainingOrder(model="churn", check_id="s1", version=1, env="staging", account="222222222222")
    in_prod = RetrainingOrder(model="churn", check_id="p1", version=1, env="prod", account="333333333333")
    # WHEN dev's start-training receives each (the first twice: EventBridge delivers at least once)
    first, again, second = (
        start_retraining(dev, in_staging),
        start_retraining(dev, in_staging),
        start_retraining(dev, in_prod),
    )
    # THEN staging's starts one run, recorded in dev's claim; prod's starts nothing, saying which check holds it
    assert isinstance(first, StartedRun) and isinstance(again, StartedRun) and again.run_id == first.run_id
    assert isinstance(second, str) and "inside the cooldown: check s1 (staging)" in second, second
    held = dev.table.get(*layout.retraining_key("churn"))
    assert held is not None and (held["check_id"], held["env"], held["run_id"]) == ("s1", "staging", first.run_id)
    workflows = dev.workflows
    assert isinstance(workflows, FakeWorkflows) and len(workflows.executions) == 1


def test_without_labelled_captures_the_set_is_the_upload_and_there_is_nothing_to_train(dev: Deps) -> None:
    # GIVEN drifted traffic, but no feedback yet
    serve(dev, 300, shift=shifted)
    assert request_retraining(dev, RetrainingRequest(check=check(dev, "c1"))).requested
    order = RetrainingOrder(model="churn", check_id="c1", version=1)
    # WHEN the retraining run curates its set THEN it is the dataset version 1 was trained on: nothing to train
    dataset = curate_retraining_set(dev, CurateRetrainingRequest(run_id="retrain-3", retrain=order))
    assert dataset.dataset_version == ModelRegistry.of(dev).get_version("churn", 1)["dataset_version"]
    assert (dataset.new, dataset.trained_version) == (False, 1)
    assert dev.table.get(*layout.run_key("retrain-3"))["outcome"] == "nothing_to_train"  # type: ignore[index]
