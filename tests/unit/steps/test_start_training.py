"""start_training: the upload rule's target starts one run per object version, whatever the events;
a duplicate event is answered with the existing run, not an error."""

from __future__ import annotations

import copy

import pytest

from slipway.contracts.training import StartTrainingRequest
from slipway.errors import InvalidEvent
from slipway.steps.training.start_training import start_training
from tests.conftest import load_event
from tests.fakes import FakeWorkflows, fake_deps


def _executions(deps_workflows: object) -> dict[str, dict[str, object]]:
    assert isinstance(deps_workflows, FakeWorkflows)
    return deps_workflows.executions


def test_an_upload_event_starts_a_run_named_after_the_object_version() -> None:
    # GIVEN the Object Created event of churn/2026-11-25.csv
    deps = fake_deps()
    event = load_event("start_training/object-created.json")

    # WHEN the start function receives it
    started = start_training(deps, StartTrainingRequest.from_event(event))

    # THEN one execution of the training machine runs, named for that object version, on its exact version
    executions = _executions(deps.workflows)
    assert list(executions) == [started.execution_arn]
    machine = deps.settings.training_state_machine_arn
    assert started.execution_arn == machine.replace(":stateMachine:", ":execution:") + f":{started.run_id}"
    assert started.run_id.startswith("churn-2026-11-25-") and started.already_exists is False
    assert executions[started.execution_arn]["raw"] == {
        "bucket": "slipway-111111111111-dev-raw",
        "key": "churn/2026-11-25.csv",
        "version_id": "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
    }


@pytest.mark.parametrize(
    "duplicate",
    ["start_training/object-created.json", "start_training/multipart-complete.json"],
    ids=["the same event again", "the multipart upload's second event"],
)
def test_a_second_event_for_the_same_version_is_the_same_run(duplicate: str) -> None:
    # GIVEN a run started by the first event of an upload
    deps = fake_deps()
    first = start_training(deps, StartTrainingRequest.from_event(load_event("start_training/object-created.json")))

    # WHEN another event about the same object version arrives
    again = start_training(deps, StartTrainingRequest.from_event(load_event(duplicate)))

    # THEN it names the same run, which already existed, and still only one execution exists
    assert (again.run_id, again.execution_arn, again.already_exists) == (first.run_id, first.execution_arn, True)
    assert len(_executions(deps.workflows)) == 1


def test_a_new_version_of_the_same_key_is_a_new_run() -> None:
    deps = fake_deps()
    event = load_event("start_training/object-created.json")
    newer = copy.deepcopy(event)
    newer["detail"]["object"]["version-id"] = "a-newer-version"

    first = start_training(deps, StartTrainingRequest.from_event(event))
    second = start_training(deps, StartTrainingRequest.from_event(newer))

    assert first.run_id != second.run_id
    assert second.already_exists is False
    assert len(_executions(deps.workflows)) == 2


def test_a_malformed_event_is_an_invalid_event_naming_the_fields() -> None:
    with pytest.raises(InvalidEvent) as raised:
        StartTrainingRequest.from_event(load_event("start_training/bad-event.json"))
    fields = {e["field"] for e in raised.value.details["errors"]}
    assert {"detail.bucket.name", "detail.object.key"} <= fields
