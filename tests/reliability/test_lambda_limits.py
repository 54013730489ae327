"""Lambda's limits in the local cloud, where functions run in worker processes of their own, as
Lambda's execution environments: warm and reused, each with its own environment variables (different
functions at once), killed past their Timeout (Sandbox.Timedout; a Task's TimeoutSeconds gives
States.Timeout) or their MemorySize (Runtime.OutOfMemory), and replaced by a fresh one."""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from slipway_local import LocalCloud
from slipway_local.polling import poll

PROBE = Path(__file__).resolve().parent / "probes" / "probe.py"


@pytest.fixture(scope="module")
def processes(cloud: LocalCloud) -> LocalCloud:
    """The session's cloud: functions deployed here run in worker processes whatever the template's do."""
    return cloud


def _probe(cloud: LocalCloud, **config: Any) -> str:
    name = f"probe-{uuid.uuid4().hex[:8]}"
    cloud.deploy_function("dev", name, PROBE, "lambda_handler", **config)
    return name


def _invoke(cloud: LocalCloud, name: str, **event: Any) -> tuple[dict[str, Any], str | None]:
    response = cloud.client("lambda", "dev").invoke(FunctionName=name, Payload=json.dumps(event))
    return json.loads(response["Payload"].read()), response.get("FunctionError")


def test_a_warm_environment_is_reused_and_keeps_its_module_state(processes: LocalCloud) -> None:
    name = _probe(processes, timeout_s=10)
    first, error = _invoke(processes, name)
    again, _ = _invoke(processes, name)
    assert error is None, first
    assert (again["pid"], again["module_loaded_at"]) == (first["pid"], first["module_loaded_at"])
    assert first["function"] == name and first["memory_limit_in_mb"] == 128
    # AND its imports find the installed packages, not the local cloud's own modules of the same name
    assert first["packaging_from"].endswith("site-packages/packaging/version.py"), first["packaging_from"]


def test_each_function_has_its_own_environment_and_runs_while_another_does(
    processes: LocalCloud, tmp_path: Path
) -> None:
    # GIVEN two functions whose environment variables differ, the first running and held until released
    slow = _probe(processes, timeout_s=30, environment={"PROBE_FLAVOUR": "slow"})
    quick = _probe(processes, timeout_s=30, environment={"PROBE_FLAVOUR": "quick"})
    started, release = tmp_path / "started", tmp_path / "release"
    slow_answer: list[dict[str, Any]] = []
    held = {"started_file": str(started), "release_file": str(release)}
    running = threading.Thread(target=lambda: slow_answer.append(_invoke(processes, slow, **held)[0]))
    running.start()
    poll(lambda: started.exists() or None, timeout_s=60, what="the first function never started")

    # WHEN the second is invoked meanwhile
    answer, error = _invoke(processes, quick)

    # THEN it answered with its own environment while the first was still running, in another process
    assert error is None and answer["flavour"] == "quick"
    assert running.is_alive() and not slow_answer
    release.touch()
    running.join(timeout=60)
    assert slow_answer[0]["flavour"] == "slow" and slow_answer[0]["pid"] != answer["pid"]


def test_an_invocation_past_its_timeout_is_killed_as_sandbox_timedout(processes: LocalCloud) -> None:
    # GIVEN a function with a 1 s timeout, warm
    name = _probe(processes, timeout_s=1)
    warm, _ = _invoke(processes, name)

    # WHEN an invocation runs past it
    answer, error = _invoke(processes, name, sleep_s=30)

    # THEN Lambda answers Sandbox.Timedout, and the next invocation gets a fresh environment
    assert error is not None and answer["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in answer["errorMessage"]
    fresh, error = _invoke(processes, name)
    assert error is None and fresh["pid"] != warm["pid"]


def test_an_invocation_over_its_memory_size_is_killed(processes: LocalCloud) -> None:
    name = _probe(processes, timeout_s=30, memory_mb=128)
    answer, error = _invoke(processes, name, allocate_mb=400, hold_s=10)
    assert error is not None and answer["errorType"] == "Runtime.OutOfMemory"
    fresh, error = _invoke(processes, name)
    assert error is None, fresh


def _machine(cloud: LocalCloud, task: dict[str, Any]) -> str:
    sfn = cloud.admin_client("stepfunctions", "dev")
    definition = {"StartAt": "Probe", "States": {"Probe": {**task, "End": True}}}
    return str(
        sfn.create_state_machine(
            name=f"probe-{uuid.uuid4().hex[:8]}",
            definition=json.dumps(definition),
            roleArn="arn:aws:iam::111111111111:role/probe",
        )["stateMachineArn"]
    )


@pytest.mark.parametrize(
    ("function_timeout_s", "task_timeout_s", "error"),
    [(1, None, "Sandbox.Timedout"), (30, 1, "States.Timeout")],
    ids=["the function's Timeout", "the Task's TimeoutSeconds"],
)
def test_a_step_past_its_time_fails_as_on_aws(
    processes: LocalCloud, function_timeout_s: int, task_timeout_s: int | None, error: str
) -> None:
    # GIVEN a state machine whose one Task invokes a function that sleeps past a limit
    name = _probe(processes, timeout_s=function_timeout_s)
    arn = processes.client("lambda", "dev").get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    task: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": arn, "Payload": {"sleep_s": 5}},
    }
    if task_timeout_s:
        task["TimeoutSeconds"] = task_timeout_s
    machine = _machine(processes, task)

    # WHEN it runs
    sfn = processes.admin_client("stepfunctions", "dev")
    execution = sfn.start_execution(stateMachineArn=machine, name="probe", input="{}")["executionArn"]
    described = processes.wait_for_execution("dev", execution)

    # THEN it fails with the error AWS reports for that limit
    assert (described["status"], described["error"]) == ("FAILED", error)
