"""Step Functions' 256 KiB state limit in the local cloud: a step whose output exceeds it fails the run
with States.DataLimitExceeded (and the run record is closed), while the states our training machine
really passes carry references, not data, and stay far below it whatever the number of rows."""

from __future__ import annotations

from typing import Any

import pytest

from slipway import layout
from slipway.domain.run_names import run_name_for_object
from slipway.stores.specs import push_spec
from slipway_cli.samples import make_churn, to_csv_bytes
from slipway_cli.target import Target
from slipway_local import LocalCloud
from tests.conftest import spec_variant

LIMIT = 256 * 1024
MODEL = "churn-limits"
ONE_FOREST = {"grid: {C: [0.1, 1.0]}": "grid: {C: [1.0]}"}


def largest_state(cloud: LocalCloud, arn: str) -> int:
    """The largest input or output of any state of an execution, in UTF-8 bytes (from its history)."""
    sfn = cloud.admin_client("stepfunctions", "dev")
    sizes = [0]
    for event in sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]:
        for details in ("stateEnteredEventDetails", "stateExitedEventDetails"):
            for field in ("input", "output"):
                text = event.get(details, {}).get(field)
                if text:
                    sizes.append(len(text.encode()))
    return max(sizes)


@pytest.fixture(scope="module")
def limits_spec(dev: Target) -> dict[str, Any]:
    return push_spec(dev.deps, spec_variant(MODEL, **{"  max_regression: {roc_auc: 0.02}\n": ""}))


def _run(cloud: LocalCloud, dev: Target, name: str, rows: int, seed: int) -> tuple[str, dict[str, Any]]:
    raw = dev.outputs["RawBucketName"]
    put = cloud.client("s3", "dev").put_object(
        Bucket=raw, Key=f"{MODEL}/{name}", Body=to_csv_bytes(make_churn(n_rows=rows, seed=seed))
    )
    cloud.runtime.wait_async_idle()
    run_id = run_name_for_object(raw, f"{MODEL}/{name}", put["VersionId"])
    arn = next(e["executionArn"] for e in cloud.executions("dev") if e["name"] == run_id)
    return run_id, cloud.wait_for_execution("dev", arn)


def test_a_step_output_over_256_kib_fails_the_run_with_data_limit_exceeded(
    cloud: LocalCloud, dev: Target, limits_spec: dict[str, Any]
) -> None:
    # GIVEN Features answering with 300 KiB more than it should
    cloud.inject_step_fault("dev", "FeaturesFunction", "oversize", marker=f'"{MODEL}"')

    # WHEN an upload runs
    run_id, execution = _run(cloud, dev, "bloated.csv", 1_200, 71)
    cloud.wait_idle()

    # THEN the execution failed with States.DataLimitExceeded, and the run record says so
    assert execution["status"] == "FAILED"
    assert execution["error"] == "States.DataLimitExceeded"
    run = dev.deps.table.get(*layout.run_key(run_id))
    assert run is not None and (run["status"], run["error_type"]) == ("FAILED", "States.DataLimitExceeded")


def test_the_states_of_a_run_carry_references_whatever_its_size(
    cloud: LocalCloud, dev: Target, limits_spec: dict[str, Any]
) -> None:
    # GIVEN two runs, the second on ten times the rows
    small = _run(cloud, dev, "small.csv", 1_200, 72)[1]
    large = _run(cloud, dev, "large.csv", 12_000, 73)[1]
    assert small["status"] == large["status"] == "SUCCEEDED", (small.get("cause"), large.get("cause"))

    # WHEN the largest state each passed is measured
    sizes = [largest_state(cloud, e["executionArn"]) for e in (small, large)]

    # THEN both are a few KiB — a sixteenth of the limit at most — and they do not grow with the rows
    assert all(size < LIMIT / 16 for size in sizes), sizes
    assert abs(sizes[1] - sizes[0]) < 1024, sizes
