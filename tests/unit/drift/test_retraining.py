"""Retraining on the fakes: a DriftDetected event starts one training run per drift check, and that run starts from
the latest curated upload plus the labelled captures (the served inputs and the feedback as target), which go
through features, training, gates and registration like an upload's dataset."""

from __future__ import annotations

import csv
import io
from dataclasses import replace

import numpy as np
import pyarrow.compute as pc
import pytest

from slipway import layout
from slipway.contracts.drift import CurateRetrainingRequest, DriftRequest, RetrainingOrder, RetrainingRequest
from slipway.contracts.training import StartedRun
from slipway.errors import DataContractViolation, InvalidEvent
from slipway.objects import S3Object
from slipway.ports import Deps
from slipway.serving.service import InferenceService, InvalidRequest
from slipway.steps.drift.compute_drift import compute_drift
from slipway.steps.drift.request_retraining import request_retraining
from slipway.steps.training.build_features import build_features
from slipway.steps.training.curate_retraining_set import curate_retraining_set
from slipway.steps.training.evaluate_challenger import evaluate_challenger
from slipway.steps.training.register_version import register_version
from slipway.steps.training.start_training import start_retraining
from slipway.steps.training.train_candidate import train_candidate
from slipway.steps.training.validate_dataset import validate_dataset
from slipway.stores.artifacts import read_parquet
from slipway.stores.registry import ModelRegistry
from slipway.stores.specs import push_spec
from tests.fakes import FakeArtifactStore, FakeEventBus, FakeWorkflows, fake_deps
from tests.unit.drift.conftest import MONITORING, feedback, land, serve
from tests.unit.drift.test_drift_steps import check, shifted
from tests.unit.steps.support import (
    SPECS,
    churn_csv,
    evaluate_request,
    features_request,
    register_request,
    run_pipeline,
    spec_pushed,
    spec_text,
    train_requests,
    upload,
)
from tests.unit.steps.test_labelled_targets import iris_csv


def drift_detected(deps: Deps) -> dict[str, object]:
    """Shifted traffic with feedback on part of it; the check asks for a retraining: its DriftDetected event."""
    answers = serve(deps, 300, shift=shifted)
    feedback(deps, answers[:120], wrong=0.2)
    assert request_retraining(deps, RetrainingRequest(check=check(deps, "c1"))).requested
    return drift_detected_of(deps)


def drift_detected_of(deps: Deps) -> dict[str, object]:
    """The one DriftDetected event published."""
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


def test_a_three_class_text_target_retrains_on_its_labelled_captures() -> None:
    # GIVEN iris (three species as text) in production, its spec retraining on drift
    deps = fake_deps()
    push_spec(deps, (SPECS / "iris.yaml").read_text() + MONITORING)
    assert run_pipeline(deps, "run-1", "iris/flowers.csv", iris_csv(), until="register").registered is not None
    registry = ModelRegistry.of(deps)
    registry.set_alias("iris", "production", 1, actor="test", reason="serve")
    v1 = registry.get_version("iris", 1)
    flowers = list(csv.DictReader(io.StringIO(iris_csv().decode())))
    # WHEN 300 flowers with longer and wider petals are served, and 200 get their species as feedback
    service = InferenceService(deps, alias_ttl_s=0)
    rng = np.random.default_rng(0)
    truths, answers, rows = [], [], []
    for k in range(300):
        flower = flowers[int(rng.integers(len(flowers)))]
        row = {name: float(value) for name, value in flower.items() if name != "species"}
        row["petal_length"] *= 1.3
        row["petal_width"] *= 1.4
        answers.append(service.predict("iris", [row], f"flower-{k}").body)
        truths.append(flower["species"])
        rows.append(row)
    with pytest.raises(InvalidRequest, match="do not fit the target"):
        service.feedback("iris", [{"request_id": "flower-0", "actual": "rose"}], "fb-0")
    given = [{"request_id": a["request_id"], "actual": t} for a, t in zip(answers[:200], truths[:200], strict=True)]
    assert service.feedback("iris", given, "fb-1")["accepted"] == 200
    labelled = list(zip(rows[:200], truths[:200], strict=True))
    assert service.captures.flush()
    land(deps)
    found = compute_drift(deps, DriftRequest.from_event({"model": "iris", "check_id": "c1"}))
    # THEN the check finds the drift, judges accuracy on the 200 labelled rows, and asks for a retraining
    assert found.drifted and found.labelled == 200 and {"petal_length", "petal_width"} <= set(found.drifted_features)
    assert request_retraining(deps, RetrainingRequest(check=found)).requested
    order = RetrainingOrder.from_event(drift_detected_of(deps))
    assert order.dataset_version == v1["dataset_version"]
    # AND the retraining set is the 150 flowers plus the 200 labelled captures, their species as sent
    dataset = curate_retraining_set(deps, CurateRetrainingRequest(run_id="retrain-iris", retrain=order))
    table = read_parquet(deps.store, S3Object.parse(dataset.curated_uri))
    captured = table.slice(150).select(["sepal_length", "sepal_width", "species"]).to_pylist()
    sent = [{"sepal_length": r["sepal_length"], "sepal_width": r["sepal_width"], "species": t} for r, t in labelled]
    assert dataset.rows == 350 and sorted(captured, key=str) == sorted(sent, key=str)
    # AND what it trains passes the gates into version 2, with the labels in the same class order
    features = build_features(deps, features_request("retrain-iris", dataset))
    trained = [train_candidate(deps, r) for r in train_requests("retrain-iris", features)]
    evaluation = evaluate_challenger(deps, evaluate_request("retrain-iris", dataset, features, trained))
    assert evaluation.gate.passed, evaluation.gate.summary
    registered = register_version(deps, register_request("retrain-iris", dataset, features, evaluation))
    v2 = registry.get_version("iris", registered.version)
    assert registered.version == 2 and v2["labels"] == v1["labels"] == ["setosa", "versicolor", "virginica"]


def test_production_traffic_enters_a_retraining_only_when_the_spec_lists_prod(dev: Deps) -> None:
    # GIVEN labelled captures (the fakes share one store: here they stand for the lake of the environment asked for)
    order = RetrainingOrder.from_event(drift_detected(dev))
    base = ModelRegistry.of(dev).get_version("churn", 1)["dataset_version"]
    from_prod = order.model_copy(update={"env": "prod", "account": "333333333333", "check_id": "p1"})
    lake = layout.lake_bucket_of("333333333333", "prod")
    store = dev.store
    assert isinstance(store, FakeArtifactStore)
    store.create_bucket(lake)
    for key in dev.store.list_keys(dev.settings.lake_bucket, "captures/") + dev.store.list_keys(
        dev.settings.lake_bucket, "feedback/"
    ):
        source = S3Object(bucket=dev.settings.lake_bucket, key=key)
        dev.store.put_bytes(S3Object(bucket=lake, key=key), dev.store.get_bytes(source), "application/json")
    # WHEN the drift was found in prod and the spec keeps its default (dev and staging)
    kept = curate_retraining_set(dev, CurateRetrainingRequest(run_id="retrain-prod-1", retrain=from_prod))
    # THEN no production row is in the set: it is the upload alone, which v1 learned from (nothing to train)
    assert kept.dataset_version == base and kept.trained_version == 1
    # WHEN the spec lists prod THEN prod's labelled captures extend the upload
    listed = "retraining: {policy: retrain, cooldown: 1d, captures_from: [dev, prod]}"
    push_spec(dev, spec_text() + MONITORING.replace("retraining: {policy: retrain, cooldown: 1d}", listed))
    learned = curate_retraining_set(dev, CurateRetrainingRequest(run_id="retrain-prod-2", retrain=from_prod))
    assert learned.dataset_version != base and learned.rows > kept.rows
    recorded = dev.table.get(*layout.dataset_key("churn", learned.dataset_version))
    assert recorded is not None and str(recorded["captures_from"]).startswith(f"s3://{lake}/")
