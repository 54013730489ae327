"""The promotion handlers with their sample events (events/<step>/, the files `sam local invoke -e` takes):
each good sample parses into its step's contract; each bad one, invoked through the Lambda API in the
account the step runs in, is refused as InvalidEvent naming the fields at fault."""

from __future__ import annotations

import json
from typing import Any

import pytest

from slipway.contracts import promotion as contracts
from slipway_local import LocalCloud
from tests.conftest import load_event

# step folder → (contract, environment it runs in, function logical id, fields its bad sample gets wrong)
STEPS: dict[str, tuple[Any, str, str, list[str]]] = {
    "begin_promotion": (contracts.StartRequest, "staging", "BeginPromotionFunction", ["execution"]),
    "export_version": (contracts.ExportRequest, "dev", "ExportVersionFunction", ["promotion.execution_arn"]),
    "copy_artifacts": (contracts.CopyRequest, "staging", "CopyArtifactsFunction", ["exported.version"]),
    "register_promoted": (contracts.RegisterPromotedRequest, "staging", "RegisterPromotedFunction", ["copied"]),
    "request_approval": (contracts.ApprovalRequest, "staging", "RequestApprovalFunction", ["token"]),
    "start_canary": (contracts.StartCanaryRequest, "staging", "StartCanaryFunction", ["promoted.version"]),
    "check_canary": (contracts.CheckCanaryRequest, "staging", "CheckCanaryFunction", ["canary.started_at"]),
    "conclude_promotion": (contracts.ConcludePromotionRequest, "staging", "ConcludePromotionFunction", ["action"]),
    "abort_promotion": (contracts.AbortRequest, "staging", "AbortPromotionFunction", ["error"]),
}


@pytest.mark.parametrize("step", sorted(STEPS))
def test_each_promotion_sample_parses_into_its_contract(step: str) -> None:
    contract, *_ = STEPS[step]
    request = contract.from_event(load_event(f"{step}/step-input.json"))
    assert request.model_dump(mode="json")


@pytest.mark.parametrize("step", sorted(STEPS))
def test_each_promotion_step_refuses_its_bad_sample_naming_the_fields(cloud: LocalCloud, step: str) -> None:
    _, env, logical_id, fields = STEPS[step]
    client = cloud.client("lambda", env)
    response = client.invoke(
        FunctionName=cloud.environments[env].functions[logical_id],
        Payload=json.dumps(load_event(f"{step}/bad-event.json")),
    )
    payload = json.loads(response["Payload"].read())
    assert response.get("FunctionError") == "Handled"
    assert payload["errorType"] == "InvalidEvent", payload
    for field in fields:
        assert field in payload["errorMessage"], (field, payload["errorMessage"])
