"""Every ending closes the run record: the state machine's own endings record themselves (Registered,
AlreadyRegistered, NothingToTrain, Failed via RecordFailure); an execution stopped by an operator or
failing in RecordFailure itself is closed by Step Functions' status-change event."""

from __future__ import annotations

from typing import Any

import pytest

from slipway import layout
from slipway.domain.run_names import run_name_for_object
from slipway.stores.specs import push_spec
from slipway_cli.samples import make_churn, to_csv_bytes
from slipway_cli.target import Target
from slipway_local import LocalCloud
from slipway_local.polling import poll
from tests.conftest import spec_variant

MODEL = "churn-endings"


@pytest.fixture(scope="module")
def endings_spec(dev: Target) -> dict[str, Any]:
    return push_spec(dev.deps, spec_variant(MODEL))


def _upload(cloud: LocalCloud, dev: Target, name: str, body: bytes) -> tuple[str, str]:
    raw = dev.outputs["RawBucketName"]
    put = cloud.client("s3", "dev").put_object(Bucket=raw, Key=f"{MODEL}/{name}", Body=body)
    cloud.runtime.wait_async_idle()
    run_id = run_name_for_object(raw, f"{MODEL}/{name}", put["VersionId"])
    arn = next(e["executionArn"] for e in cloud.executions("dev") if e["name"] == run_id)
    return run_id, arn


def test_a_stopped_execution_closes_its_run_as_aborted(
    cloud: LocalCloud, dev: Target, endings_spec: dict[str, Any]
) -> None:
    # GIVEN a run held inside its Features step
    held = cloud.inject_step_fault("dev", "FeaturesFunction", "barrier", parties=2)
    run_id, arn = _upload(cloud, dev, "stopped.csv", to_csv_bytes(make_churn(n_rows=1_200, seed=61)))
    poll(lambda: held.fired or None, timeout_s=60, what="Features never started")

    # WHEN an operator stops the execution (and the step, which Lambda lets finish, returns)
    sfn = cloud.admin_client("stepfunctions", "dev")
    sfn.stop_execution(executionArn=arn, error="Operator.Stopped", cause="stopped by an operator")
    held.release()
    cloud.wait_idle()

    # THEN the execution is ABORTED and so is its run record, with when it ended; the late step did not reopen it
    assert sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"
    run = dev.deps.table.get(*layout.run_key(run_id))
    assert run is not None
    assert run["status"] == "ABORTED"
    assert run["ended_at"] >= run["started_at"]


def test_a_failure_inside_record_failure_still_closes_the_run(
    cloud: LocalCloud, dev: Target, endings_spec: dict[str, Any]
) -> None:
    # GIVEN RecordFailure failing (not retryably) the first time it is called
    broken = cloud.inject_step_fault("dev", "RecordFailureFunction", "before", error_type="InternalError")

    # WHEN an upload breaks the contract (Validate → Catch → RecordFailure, which fails)
    run_id, arn = _upload(cloud, dev, "broken.csv", b"not,a,churn,file\n1,2,3,4\n")
    cloud.wait_idle()

    # THEN the execution failed in RecordFailure, and the status-change event closed the run FAILED
    sfn = cloud.admin_client("stepfunctions", "dev")
    assert broken.fired == 1
    assert sfn.describe_execution(executionArn=arn)["status"] == "FAILED"
    run = dev.deps.table.get(*layout.run_key(run_id))
    assert run is not None
    assert (run["status"], run["error_type"]) == ("FAILED", "InternalError")
    assert "injected" in run["error_message"]


def test_a_run_its_machine_recorded_keeps_its_typed_error(
    cloud: LocalCloud, dev: Target, endings_spec: dict[str, Any]
) -> None:
    # GIVEN a contract violation, recorded by the machine's own Catch
    run_id, _ = _upload(cloud, dev, "plain-bad.csv", b"not,a,churn,file\n1,2,3,4\n")
    cloud.wait_idle()

    # THEN the status-change event (FAILED) left that record as it was
    run = dev.deps.table.get(*layout.run_key(run_id))
    assert run is not None
    assert (run["status"], run["error_type"]) == ("FAILED", "DataContractViolation")
    closers = [
        i
        for i in cloud.runtime.invocations_of(cloud.environments["dev"].functions["RecordFailureFunction"])
        if isinstance(i.event, dict) and i.event.get("run_id") == run_id
    ]
    assert [c.event.get("if_running", False) for c in closers] == [False, True]
    assert closers[1].result["closed"] is False
