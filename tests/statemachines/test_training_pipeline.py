"""The whole training machine in the local cloud: upload → validate → features → Map(train) →
evaluate → gates → register, with the registry, artifacts and lineage a user would inspect."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from slipway import layout
from slipway.contracts.training import FeatureSetRef
from slipway.domain.features import model_input_frame
from slipway.domain.lineage import model_node
from slipway.objects import S3Object
from slipway.steps.training.reproduce import reproduce
from slipway.stores import lineage, runs
from slipway.stores.artifacts import load_verified_model
from slipway.stores.features import feature_inputs, holdout_rows, load_split
from slipway.stores.registry import ModelRegistry
from slipway.stores.specs import push_spec
from slipway_cli.samples import make_churn, to_csv_bytes, to_parquet_bytes
from slipway_cli.target import Target
from slipway_local import LocalCloud
from tests.conftest import Upload, spec_variant, upload_and_wait


def _history(cloud: LocalCloud, arn: str) -> list[dict[str, Any]]:
    sfn = cloud.admin_client("stepfunctions", "dev")
    return sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]  # type: ignore[no-any-return]


MODEL = "churn-train"  # the churn spec under its own name: other tests' uploads do not become its champion


class InterpreterLog(logging.Handler):
    """moto's ASL interpreter logs each exception it evaluates at ERROR, those a Choice recovers from included
    (what `slipway local up` prints to its console)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture(scope="module")
def interpreter_log() -> Iterator[InterpreterLog]:
    """What moto's interpreter logs at ERROR while this module's runs execute, from the first one on."""
    handler, logger = InterpreterLog(), logging.getLogger("moto.stepfunctions")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.ERROR)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture(scope="module")
def first_model(cloud: LocalCloud, dev: Target, interpreter_log: InterpreterLog) -> Upload:
    """Version 1, trained from a clean upload."""
    push_spec(dev.deps, spec_variant(MODEL))
    return upload_and_wait(cloud, "dev", f"{MODEL}/train-2026-11-25.csv", to_csv_bytes(make_churn(3_000, seed=41)))


def test_an_upload_ends_as_a_registered_version_with_artifacts_and_lineage(
    cloud: LocalCloud, dev: Target, first_model: Upload
) -> None:
    # THEN the run succeeded through every stage
    assert first_model.status == "SUCCEEDED", first_model.execution.get("cause")
    entered = [
        e["stateEnteredEventDetails"]["name"]
        for e in _history(cloud, first_model.execution_arn)
        if "stateEnteredEventDetails" in e
    ]
    assert [s for s in entered if s != "Train"] == [
        "Defaults",
        "ApplyDefaults",
        "Source",
        "Validate",
        "AlreadyTrained",
        "Features",
        "TrainCandidates",
        "Evaluate",
        "GatesPassed",
        "Register",
        "NewVersion",
        "Retrained?",
        "Registered",
    ]
    assert entered.count("Train") == 4  # 2 logistic + 1 forest + 1 boosting
    registered = first_model.output["model"]
    registry = ModelRegistry.of(dev.deps)
    item = registry.get_version(MODEL, registered["version"])

    # AND the version carries its exact hyperparameters, metrics, gate decision and alias
    best = dev.deps.store.get_json(S3Object.parse(item["evaluation_uri"]))["best"]
    assert json.loads(item["params_json"]) == best["params"]
    assert all(type(v) is type(best["params"][k]) for k, v in json.loads(item["params_json"]).items())
    assert item["test_metrics"]["roc_auc"] > 0.7
    assert item["gate"].startswith("passed")
    assert registry.alias(MODEL, "candidate") == registered["version"]

    # AND every artifact is where the registry says, with the recorded SHA-256
    for name in (layout.MODEL_ONNX, layout.MODEL_SKOPS, layout.MODEL_CARD_JSON, layout.MODEL_CARD_HTML):
        artifact = item["artifacts"][name]
        body = dev.deps.store.get_bytes(S3Object.parse(artifact["uri"]))
        assert hashlib.sha256(body).hexdigest() == artifact["sha256"], name
    assert item["onnx"]["status"] == "ok" and item["onnx"]["max_diff"] <= 1e-5
    card = dev.deps.store.get_bytes(S3Object.parse(item["artifacts"][layout.MODEL_CARD_HTML]["uri"])).decode()
    assert "roc_auc" in card and MODEL in card

    # AND each candidate of the run is recorded with what reproduces it
    candidates = runs.candidates_of(dev.deps, item["run_id"])
    assert [k["algorithm"] for k in candidates] == [
        "logistic_regression",
        "logistic_regression",
        "random_forest",
        "gradient_boosting",
    ]
    assert all(k["seed"] == 42 and k["spec_version"] == item["spec_version"] for k in candidates)
    assert all(k["code_version"] for k in candidates)

    # AND lineage answers both ways
    node = model_node(MODEL, registered["version"])
    upstream = lineage.upstream(dev.deps, node)
    raw = f"s3://{dev.outputs['RawBucketName']}/{MODEL}/train-2026-11-25.csv"
    assert any(n.startswith(f"raw:{raw}") for n in upstream)
    assert {n.split(":")[0] for n in upstream} >= {"run", "features", "dataset", "raw", "spec"}
    assert lineage.models_fed_by(dev.deps, raw) == [node]


def test_an_upload_s_run_reads_no_missing_path(first_model: Upload, interpreter_log: InterpreterLog) -> None:
    # GIVEN an upload's run (its input has no retraining order) WHEN it has ended
    assert first_model.status == "SUCCEEDED"
    # THEN no state read a path its input lacks (moto logged `NoSuchJsonPathError '$.retrain'` on every run)
    assert [m for m in interpreter_log.messages if "NoSuchJsonPath" in m] == []


def test_same_upload_twice_makes_no_second_version(cloud: LocalCloud, dev: Target, first_model: Upload) -> None:
    versions_before = ModelRegistry.of(dev.deps).versions(MODEL)
    body = dev.deps.store.get_bytes(S3Object(bucket=dev.outputs["RawBucketName"], key=f"{MODEL}/train-2026-11-25.csv"))

    again = upload_and_wait(cloud, "dev", f"{MODEL}/train-again.csv", body)

    assert again.status == "SUCCEEDED"
    assert again.output["dataset"]["new"] is False
    assert again.output["dataset"]["trained_version"] == first_model.output["model"]["version"]
    assert ModelRegistry.of(dev.deps).versions(MODEL) == versions_before


def test_new_data_registers_the_next_version_against_the_champion(
    cloud: LocalCloud, dev: Target, first_model: Upload
) -> None:
    run = upload_and_wait(
        cloud, "dev", f"{MODEL}/train-2026-12-01.parquet", to_parquet_bytes(make_churn(3_000, seed=42))
    )

    assert run.status == "SUCCEEDED", run.execution.get("cause")
    registered = run.output["model"]
    assert registered["version"] == first_model.output["model"]["version"] + 1
    evaluation = dev.deps.store.get_json(
        S3Object.parse(ModelRegistry.of(dev.deps).get_version(MODEL, registered["version"])["evaluation_uri"])
    )
    assert evaluation["champion"]["version"] == first_model.output["model"]["version"]
    assert {row["metric"] for row in evaluation["comparison"]} >= {"roc_auc", "f1"}


def test_reproduce_gives_identical_metrics(dev: Target, first_model: Upload) -> None:
    item = ModelRegistry.of(dev.deps).get_version(MODEL, first_model.output["model"]["version"])
    result = reproduce(dev.deps, item)
    assert result["feature_set_matches"] is True
    assert result["identical"] is True, result["metrics"]
    assert {row["metric"] for row in result["metrics"]} >= {"roc_auc", "accuracy", "log_loss"}


def test_a_failed_gate_fails_the_run_with_reasons_and_leaves_the_registry_unchanged(
    cloud: LocalCloud, dev: Target
) -> None:
    # GIVEN a spec whose gate no model can pass
    push_spec(
        dev.deps,
        spec_variant("churn-strict", **{"min_metrics: {roc_auc: 0.70}": "min_metrics: {roc_auc: 0.999}"}),
    )

    run = upload_and_wait(cloud, "dev", "churn-strict/2026-11-25.csv", to_csv_bytes(make_churn(n_rows=2_000, seed=43)))

    assert run.status == "FAILED"
    assert run.execution["error"] == "QualityGateFailed"
    assert "roc_auc" in run.execution["cause"] and "< min 0.999" in run.execution["cause"]
    registry = ModelRegistry.of(dev.deps)
    assert registry.versions("churn-strict") == []
    assert registry.aliases("churn-strict") == {}
    run_item = runs.get_run(dev.deps, run.execution_arn.rsplit(":", 1)[1])
    assert run_item is not None
    assert (run_item["status"], run_item["error_type"]) == ("FAILED", "QualityGateFailed")


def test_a_crash_in_register_after_the_upload_is_retried_into_exactly_one_version(
    cloud: LocalCloud, dev: Target
) -> None:
    # GIVEN DynamoDB failing the registration transaction (after the artifacts are uploaded) once,
    # past botocore's own three retries
    push_spec(dev.deps, spec_variant("churn-crash"))
    fault = cloud.inject_fault(
        "dynamodb", "TransactWriteItems", times=4, code="InternalServerError", status=500, env="dev"
    )

    run = upload_and_wait(cloud, "dev", "churn-crash/2026-11-25.csv", to_csv_bytes(make_churn(n_rows=2_000, seed=44)))

    # THEN Register failed once with TransientError, was retried, and exactly one version exists
    assert fault.fired == 4
    assert run.status == "SUCCEEDED", run.execution.get("cause")
    failed = [
        e["taskFailedEventDetails"]["error"] for e in _history(cloud, run.execution_arn) if e["type"] == "TaskFailed"
    ]
    assert failed == ["TransientError"]
    assert [v["version"] for v in ModelRegistry.of(dev.deps).versions("churn-crash")] == [1]

    # AND a register retried after it had committed (a lost response) returns the same version
    lam = cloud.client("lambda", "dev")
    register_input = next(
        json.loads(e["taskScheduledEventDetails"]["parameters"])["Payload"]
        for e in reversed(_history(cloud, run.execution_arn))
        if e["type"] == "TaskScheduled" and "register" in e["taskScheduledEventDetails"]["parameters"]
    )
    register = cloud.environments["dev"].functions["RegisterFunction"]
    again = json.loads(lam.invoke(FunctionName=register, Payload=json.dumps(register_input))["Payload"].read())
    assert (again["version"], again["new"]) == (1, False)
    assert len(ModelRegistry.of(dev.deps).versions("churn-crash")) == 1


def test_the_registered_model_transforms_test_rows_exactly_as_the_feature_set_did(
    dev: Target, first_model: Upload
) -> None:
    # GIVEN the registered version and the feature set it was trained from
    item = ModelRegistry.of(dev.deps).get_version(MODEL, first_model.output["model"]["version"])
    fs = dev.deps.table.get(*layout.feature_set_key(MODEL, item["feature_set"]))
    assert fs is not None
    ref = FeatureSetRef(
        id=fs["id"],
        model=MODEL,
        dataset_version=fs["dataset_version"],
        spec_version=fs["spec_version"],
        uri=fs["uri"],
        curated_uri=first_model.output["dataset"]["curated_uri"],
        task="classification",
        metric="roc_auc",
        seed=42,
        rows=fs["rows"],
        n_features=len(fs["feature_names"]),
    )
    stored, _ = load_split(dev.deps, ref, "test")

    # WHEN the served model's own transform step runs on the raw test rows
    pipeline = load_verified_model(dev.deps.store, item["artifacts"][layout.MODEL_SKOPS])
    frame = model_input_frame(holdout_rows(dev.deps, ref), feature_inputs(fs["inputs"]))
    served = np.asarray(pipeline.named_steps["features"].transform(frame), dtype=np.float32)

    # THEN it gives the training-time features bit for bit: no train/serve skew
    assert served.shape == stored.shape == (fs["rows"]["test"], len(fs["feature_names"]))
    np.testing.assert_array_equal(served, stored)


def test_rerunning_every_step_of_a_finished_run_adds_nothing(
    cloud: LocalCloud, dev: Target, first_model: Upload
) -> None:
    # GIVEN a finished run and the exact payload each of its steps received
    scheduled = [
        json.loads(e["taskScheduledEventDetails"]["parameters"])
        for e in _history(cloud, first_model.execution_arn)
        if e["type"] == "TaskScheduled"
    ]
    db = cloud.admin_client("dynamodb", "dev")
    table = dev.outputs["MetadataTableName"]

    def items() -> list[tuple[str, str]]:
        pages = db.get_paginator("scan").paginate(TableName=table, ProjectionExpression="PK, SK")
        return sorted((i["PK"]["S"], i["SK"]["S"]) for page in pages for i in page["Items"])

    before = items()
    versions_before = ModelRegistry.of(dev.deps).versions(MODEL)

    # WHEN every step is invoked again with the same payload (as a Retry after a lost response would)
    lam = cloud.client("lambda", "dev")
    for params in scheduled:
        response = lam.invoke(FunctionName=params["FunctionName"], Payload=json.dumps(params["Payload"]))
        assert "FunctionError" not in response, response["Payload"].read()

    # THEN no item was added (datasets, feature sets, candidates, versions, aliases, lineage) and
    # the registered version is unchanged
    assert items() == before
    assert ModelRegistry.of(dev.deps).versions(MODEL) == versions_before
