"""Handlers with their real adapters under moto, invoked through the Lambda API with the sample
events in events/ (the same files `sam local invoke -e` takes)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from slipway import layout
from slipway.contracts.training import EvaluateRequest, FeaturesRequest, RegisterRequest, TrainRequest
from slipway_cli.samples import make_churn, to_csv_bytes
from slipway_cli.target import Target
from slipway_local import LocalCloud
from tests.conftest import load_event


def _invoke(cloud: LocalCloud, env: str, logical_id: str, event: Any) -> tuple[dict[str, Any], str | None]:
    client = cloud.client("lambda", env)
    response = client.invoke(FunctionName=cloud.environments[env].functions[logical_id], Payload=json.dumps(event))
    return json.loads(response["Payload"].read()), response.get("FunctionError")


@pytest.fixture(scope="module")
def uploaded_version(cloud: LocalCloud, dev: Target, churn_spec: dict[str, Any]) -> str:
    """The object the sample event names, uploaded to dev's raw bucket (versioned)."""
    event = load_event("validate_dataset/object-created.json")
    s3 = cloud.client("s3", "dev")
    put = s3.put_object(
        Bucket=event["detail"]["bucket"]["name"],
        Key=event["detail"]["object"]["key"],
        Body=to_csv_bytes(make_churn(n_rows=1_100, seed=21)),
    )
    return str(put["VersionId"])


@pytest.mark.parametrize("sample", ["validate_dataset/object-created.json", "validate_dataset/step-input.json"])
def test_validate_accepts_the_sample_events(cloud: LocalCloud, uploaded_version: str, sample: str) -> None:
    # GIVEN a sample event, pinned to the version S3 gave our upload (the sample's id is AWS's)
    event = load_event(sample)
    (event.get("event") or event)["detail"]["object"]["version-id"] = uploaded_version

    # WHEN the validate function is invoked with it
    payload, error = _invoke(cloud, "dev", "ValidateFunction", event)

    # THEN it returns the curated dataset version of that exact object version
    assert error is None, payload
    assert payload["model"] == "churn" and payload["rows"] == 1_100
    assert payload["raw_version_id"] == uploaded_version
    assert len(payload["dataset_version"]) == 64


def test_validate_rejects_a_malformed_event_naming_the_fields(cloud: LocalCloud) -> None:
    payload, error = _invoke(cloud, "dev", "ValidateFunction", load_event("validate_dataset/bad-event.json"))
    assert error == "Handled"
    assert payload["errorType"] == "InvalidEvent"
    assert "detail.bucket.name" in payload["errorMessage"]
    assert "detail.object.key" in payload["errorMessage"]


def test_validate_reports_a_missing_object_as_not_found(cloud: LocalCloud, churn_spec: dict[str, Any]) -> None:
    event = load_event("validate_dataset/object-created.json")
    event["detail"]["object"]["key"] = "churn/never-uploaded.csv"
    del event["detail"]["object"]["version-id"]
    payload, error = _invoke(cloud, "dev", "ValidateFunction", event)
    assert error == "Handled"
    assert payload["errorType"] == "NotFound"


def test_record_failure_marks_the_run_failed(cloud: LocalCloud, dev: Target) -> None:
    event = load_event("record_failure/catch.json")
    payload, error = _invoke(cloud, "dev", "RecordFailureFunction", event)
    assert error is None, payload
    item = dev.deps.table.get(*layout.run_key(event["run_id"]))
    assert item is not None
    assert (item["status"], item["error_type"]) == ("FAILED", "DataContractViolation")
    assert item["error_message"].startswith("s3://slipway-111111111111-dev-raw/churn/bad.csv broke")


def test_record_failure_rejects_an_event_without_error_name(cloud: LocalCloud) -> None:
    payload, error = _invoke(cloud, "dev", "RecordFailureFunction", load_event("record_failure/bad-event.json"))
    assert error == "Handled"
    assert payload["errorType"] == "InvalidEvent"
    assert "run_id" in payload["errorMessage"]


STEP_CONTRACTS = {
    "build_features": (FeaturesRequest, "FeaturesFunction", ["run_id", "dataset.dataset_version", "dataset.rows"]),
    "train_candidate": (TrainRequest, "TrainFunction", ["candidate.index", "candidate.params"]),
    "evaluate_challenger": (EvaluateRequest, "EvaluateFunction", ["trained"]),
    "register_version": (RegisterRequest, "RegisterFunction", ["evaluation"]),
}


@pytest.mark.parametrize("step", sorted(STEP_CONTRACTS))
def test_each_step_sample_input_parses_into_its_contract(step: str) -> None:
    contract, _, _ = STEP_CONTRACTS[step]
    request = contract.from_event(load_event(f"{step}/step-input.json"))
    assert request.run_id.startswith("evt-")


@pytest.mark.parametrize("step", sorted(STEP_CONTRACTS))
def test_each_step_rejects_its_bad_sample_naming_the_fields(cloud: LocalCloud, step: str) -> None:
    _, logical_id, fields = STEP_CONTRACTS[step]
    payload, error = _invoke(cloud, "dev", logical_id, load_event(f"{step}/bad-event.json"))
    assert error == "Handled"
    assert payload["errorType"] == "InvalidEvent"
    for field in fields:
        assert field in payload["errorMessage"], (field, payload["errorMessage"])
