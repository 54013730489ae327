"""The training machine's first stage in the local cloud: an upload in dev runs Validate in dev."""

from __future__ import annotations

import json
from typing import Any

import pyarrow.parquet as pq
import pytest

from slipway import layout
from slipway.domain.lineage import dataset_node, raw_node
from slipway.objects import S3Object
from slipway.stores.specs import push_spec
from slipway_cli.samples import corrupt, make_churn, to_csv_bytes, to_parquet_bytes
from slipway_cli.target import Target
from slipway_local import LocalCloud
from tests.conftest import spec_variant, upload_and_wait

MODEL = "churn-intake"


@pytest.fixture(scope="module")
def intake_spec(dev: Target) -> dict[str, Any]:
    """The churn spec under its own model name, so these runs do not compete with other tests' models
    (no regression gate: each test uploads a different small sample)."""
    return push_spec(dev.deps, spec_variant(MODEL, **{"  max_regression: {roc_auc: 0.02}\n": ""}))


def _history(cloud: LocalCloud, env: str, arn: str) -> list[dict[str, Any]]:
    sfn = cloud.admin_client("stepfunctions", env)
    return sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]  # type: ignore[no-any-return]


def test_upload_in_dev_runs_training_in_dev_only(cloud: LocalCloud, dev: Target, intake_spec: dict[str, Any]) -> None:
    # GIVEN the churn spec in dev (as churn-intake) and a clean sample
    body = to_csv_bytes(make_churn(n_rows=2_000, seed=11))
    staging_before = len(cloud.executions("staging"))
    prod_before = len(cloud.executions("prod"))

    # WHEN a data engineer uploads it to dev's raw bucket
    run = upload_and_wait(cloud, "dev", f"{MODEL}/2026-11-25.csv", body)

    # THEN the run succeeds in dev with a curated dataset version, and nothing ran elsewhere
    assert run.status == "SUCCEEDED", run.execution.get("cause")
    dataset = run.output["dataset"]
    assert dataset["model"] == MODEL
    assert dataset["rows"] == 2_000
    assert dataset["spec_version"] == intake_spec["version"]
    assert "email" in dataset["columns"]
    assert len(cloud.executions("staging")) == staging_before
    assert len(cloud.executions("prod")) == prod_before

    curated = dev.deps.store.get_bytes(S3Object.parse(dataset["curated_uri"]))
    table = pq.read_table(__import__("io").BytesIO(curated))
    assert table.num_rows == 2_000
    assert all(len(v) == 64 for v in table.column("email").to_pylist()[:10])  # PII hashed, not plain
    assert "@" not in "".join(table.column("email").to_pylist()[:10])
    profile = dev.deps.store.get_json(S3Object.parse(dataset["profile_uri"]))
    assert profile["age"]["kind"] == "numeric"

    item = dev.deps.table.get(*layout.dataset_key(MODEL, dataset["dataset_version"]))
    assert item is not None and item["rows"] == 2_000
    raw = raw_node(f"s3://{dev.outputs['RawBucketName']}/{MODEL}/2026-11-25.csv", run.version_id)
    edges = dev.deps.table.query(*layout.edges(raw, "out"))
    assert [e["other"] for e in edges] == [f"dataset:{MODEL}:{dataset['dataset_version']}"]


def test_contract_violation_fails_typed_quarantines_and_keeps_raw(
    cloud: LocalCloud, dev: Target, intake_spec: dict[str, Any]
) -> None:
    # GIVEN a corrupted copy (wrong types, out-of-range values, a missing column)
    body = to_csv_bytes(corrupt(make_churn(n_rows=2_000, seed=12), seed=12))

    # WHEN it is uploaded
    run = upload_and_wait(cloud, "dev", f"{MODEL}/corrupted.csv", body)

    # THEN the run fails with the typed error and a quarantine report naming every finding
    assert run.status == "FAILED"
    assert run.execution["error"] == "DataContractViolation"
    cause = json.loads(run.execution["cause"])
    assert cause["errorType"] == "DataContractViolation"
    assert "report_uri" in cause["errorMessage"]
    run_id = run.execution_arn.rsplit(":", 1)[1]
    report = dev.deps.store.get_json(layout.quarantine_report(dev.outputs["LakeBucketName"], MODEL, run_id))
    found = {(f["column"], f["check"]) for f in report["failures"]}
    assert ("plan", "missing_column") in found
    assert ("age", "type") in found
    assert ("monthly_charges", "min") in found
    assert all(f["count"] >= 1 for f in report["failures"])
    copy = dev.deps.store.get_bytes(S3Object.parse(report["quarantined_copy"]))
    assert (
        report["quarantined_copy"]
        == layout.quarantine_copy(dev.outputs["LakeBucketName"], MODEL, run_id, "corrupted.csv").uri
    )
    assert copy == body

    # AND the raw object is untouched (one version, same bytes) and the run is recorded as failed
    s3 = cloud.client("s3", "dev")
    versions = s3.list_object_versions(Bucket=dev.outputs["RawBucketName"], Prefix=f"{MODEL}/corrupted.csv")["Versions"]
    assert len(versions) == 1
    assert s3.get_object(Bucket=dev.outputs["RawBucketName"], Key=f"{MODEL}/corrupted.csv")["Body"].read() == body
    run_item = dev.deps.table.get(*layout.run_key(run_id))
    assert run_item is not None and run_item["status"] == "FAILED"
    assert run_item["error_type"] == "DataContractViolation"


def test_transient_s3_error_is_retried_by_the_state_machine(
    cloud: LocalCloud, dev: Target, intake_spec: dict[str, Any]
) -> None:
    # GIVEN S3 in dev answering SlowDown to the next four GetObject calls: botocore's first try and
    # its three retries (adapters/clients.py), so the step itself fails once
    fault = cloud.inject_fault("s3", "GetObject", times=4, env="dev")

    # WHEN an upload arrives
    run = upload_and_wait(cloud, "dev", f"{MODEL}/retry.parquet", to_parquet_bytes(make_churn(n_rows=1_500, seed=13)))

    # THEN Validate failed once with TransientError, was retried by the ASL, and the run succeeded
    assert fault.fired == 4
    assert run.status == "SUCCEEDED", run.execution.get("cause")
    failed = [e for e in _history(cloud, "dev", run.execution_arn) if e["type"] == "TaskFailed"]
    assert [e["taskFailedEventDetails"]["error"] for e in failed] == ["TransientError"]


def test_same_bytes_twice_make_one_dataset_version(cloud: LocalCloud, dev: Target, intake_spec: dict[str, Any]) -> None:
    # GIVEN the same bytes uploaded under two names
    body = to_csv_bytes(make_churn(n_rows=1_200, seed=14))
    first = upload_and_wait(cloud, "dev", f"{MODEL}/same-a.csv", body)
    second = upload_and_wait(cloud, "dev", f"{MODEL}/same-b.csv", body)

    # THEN both runs succeed with one dataset version, recorded once, fed by both raw objects
    assert first.status == second.status == "SUCCEEDED"
    version = first.output["dataset"]["dataset_version"]
    assert second.output["dataset"]["dataset_version"] == version
    assert (first.output["dataset"]["new"], second.output["dataset"]["new"]) == (True, False)
    items = [i for i in dev.deps.table.query(*layout.datasets(MODEL)) if i["version"] == version]
    assert len(items) == 1
    upstream = [
        e
        for e in dev.deps.table.query(*layout.edges(dataset_node(MODEL, version), "in"))
        if e["kind"] == "curated_into"
    ]
    assert {u["other"].split("?")[0].rsplit("/", 1)[1] for u in upstream} == {"same-a.csv", "same-b.csv"}


def test_upload_for_a_model_without_spec_fails_with_spec_error(cloud: LocalCloud) -> None:
    run = upload_and_wait(cloud, "dev", "fraud/2026-11-25.csv", b"a,b\n1,2\n")
    assert run.status == "FAILED"
    assert run.execution["error"] == "SpecError"
    assert "no model spec pushed for model 'fraud'" in run.execution["cause"]


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_each_environment_has_its_own_stack_and_table(cloud: LocalCloud, env: str) -> None:
    outputs = cloud.environments[env].outputs
    assert outputs["MetadataTableName"] == f"slipway-{env}-metadata"
    assert cloud.environments[env].account_id in outputs["RawBucketName"]
    identity = cloud.client("sts", env).get_caller_identity()
    assert identity["Account"] == cloud.environments[env].account_id


def test_an_unreadable_upload_is_quarantined_with_a_readable_check(
    cloud: LocalCloud, dev: Target, intake_spec: dict[str, Any]
) -> None:
    run = upload_and_wait(cloud, "dev", f"{MODEL}/garbage.parquet", b"PAR1 this is not parquet")

    assert run.status == "FAILED"
    assert run.execution["error"] == "DataContractViolation"
    run_id = run.execution_arn.rsplit(":", 1)[1]
    report = dev.deps.store.get_json(layout.quarantine_report(dev.outputs["LakeBucketName"], MODEL, run_id))
    assert [f["check"] for f in report["failures"]] == ["readable"]
