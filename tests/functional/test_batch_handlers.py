"""The batch-scoring handlers with their real adapters in the local cloud, invoked through the Lambda API with
the sample events in events/ (the files `sam local invoke -e` takes): good samples parse into their contracts,
bad ones are refused InvalidEvent naming each field at fault."""

from __future__ import annotations

import json
from typing import Any

import pytest

from slipway.contracts.batch import ConcludeBatchRequest, PartRequest, ScoreRequest
from slipway.stores.runs import get_run
from slipway_cli.target import Target
from slipway_local import LocalCloud
from tests.conftest import load_event

HANDLERS = {
    "resolve_batch": (ScoreRequest, "ResolveBatchFunction", ["run_id", "ref", "input"]),
    "score_part": (PartRequest, "ScorePartFunction", ["batch.version", "batch.onnx_sha256", "key"]),
    "conclude_batch": (ConcludeBatchRequest, "ConcludeBatchFunction", ["run_id", "error"]),
}


def _invoke(cloud: LocalCloud, logical_id: str, event: Any) -> tuple[dict[str, Any], str | None]:
    client = cloud.client("lambda", "dev")
    response = client.invoke(FunctionName=cloud.environments["dev"].functions[logical_id], Payload=json.dumps(event))
    return json.loads(response["Payload"].read()), response.get("FunctionError")


@pytest.mark.parametrize("step", sorted(HANDLERS))
def test_each_sample_input_parses_into_its_contract(step: str) -> None:
    contract, _, _ = HANDLERS[step]
    request = contract.from_event(load_event(f"{step}/step-input.json"))
    assert request is not None


@pytest.mark.parametrize("step", sorted(HANDLERS))
def test_each_handler_refuses_its_bad_sample_naming_the_fields(cloud: LocalCloud, step: str) -> None:
    _, logical_id, fields = HANDLERS[step]
    payload, error = _invoke(cloud, logical_id, load_event(f"{step}/bad-event.json"))
    assert error == "Handled"
    assert payload["errorType"] == "InvalidEvent"
    for field in fields:
        assert field in payload["errorMessage"], (field, payload["errorMessage"])


def test_resolving_a_model_nobody_registered_records_the_run_and_fails_not_found(
    cloud: LocalCloud, dev: Target
) -> None:
    event = load_event("resolve_batch/step-input.json") | {"run_id": "score-nobody", "ref": "nobody@production"}
    payload, error = _invoke(cloud, "ResolveBatchFunction", event)
    assert (error, payload["errorType"]) == ("Handled", "NotFound")
    assert (get_run(dev.deps, "score-nobody") or {}).get("ref") == "nobody@production"


def test_the_catch_sample_records_the_run_failed_with_the_maps_error(cloud: LocalCloud, dev: Target) -> None:
    event = load_event("conclude_batch/catch.json")
    payload, error = _invoke(cloud, "ConcludeBatchFunction", event)
    assert error is None, payload
    assert payload["error"] == "States.ExceedToleratedFailureThreshold"
    run = get_run(dev.deps, event["run_id"]) or {}
    assert (run["status"], run["error_type"]) == ("FAILED", "States.ExceedToleratedFailureThreshold")
