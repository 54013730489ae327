"""The drift handlers with their sample events (events/<step>/, the files `sam local invoke -e` takes): each
good sample parses into its step's contract; each bad one, invoked through the Lambda API, is refused as
InvalidEvent naming the fields at fault."""

from __future__ import annotations

import json
from typing import Any

import pytest

from slipway.contracts import drift as contracts
from slipway_local import LocalCloud
from tests.conftest import load_event

# step folder → (contract, function logical id, fields its bad sample gets wrong)
STEPS: dict[str, tuple[Any, str, list[str]]] = {
    "compute_drift": (contracts.DriftRequest, "ComputeDriftFunction", ["model", "check_id", "window"]),
    "request_retraining": (contracts.RetrainingRequest, "RequestRetrainingFunction", ["check.check_id", "check.at"]),
    "curate_retraining_set": (
        contracts.CurateRetrainingRequest,
        "CurateRetrainingSetFunction",
        ["retrain.check_id", "retrain.version"],
    ),
}


@pytest.mark.parametrize("step", sorted(STEPS))
def test_each_drift_sample_parses_into_its_contract(step: str) -> None:
    contract, *_ = STEPS[step]
    assert contract.from_event(load_event(f"{step}/step-input.json")).model_dump(mode="json")


@pytest.mark.parametrize("step", sorted(STEPS))
def test_each_drift_step_refuses_its_bad_sample_naming_the_fields(cloud: LocalCloud, step: str) -> None:
    _, logical_id, fields = STEPS[step]
    response = cloud.client("lambda", "prod").invoke(
        FunctionName=cloud.environments["prod"].functions[logical_id],
        Payload=json.dumps(load_event(f"{step}/bad-event.json")),
    )
    payload = json.loads(response["Payload"].read())
    assert response.get("FunctionError") == "Handled"
    assert payload["errorType"] == "InvalidEvent", payload
    for field in fields:
        assert field in payload["errorMessage"], (field, payload["errorMessage"])


def test_the_drift_detected_sample_parses_into_a_retraining_order() -> None:
    order = contracts.RetrainingOrder.from_event(load_event("start_training/drift-detected.json"))
    assert (order.model, order.version, order.policy) == ("churn", 3, "retrain")
