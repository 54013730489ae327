"""The local cloud's Distributed Map behaves as AWS's where moto's does not (slipway_local.distributed_map):
the S3 ItemReader lists every page and gives no items for an empty prefix, and a failed child fails the
Map Run with States.ExceedToleratedFailureThreshold (moto would succeed with a null result)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from slipway_local import distributed_map
from slipway_local.polling import poll

REGION = "us-east-1"


def _machine(bucket: str) -> str:
    child: dict[str, Any] = {
        "StartAt": "Check",
        "States": {
            "Check": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.key", "StringMatches": "*bad*", "Next": "Break"}],
                "Default": "Done",
            },
            "Break": {"Type": "Fail", "Error": "DataContractViolation", "Cause": "bad rows"},
            "Done": {"Type": "Pass", "End": True},
        },
    }
    return json.dumps(
        {
            "StartAt": "Parts",
            "States": {
                "Parts": {
                    "Type": "Map",
                    "ItemReader": {
                        "Resource": "arn:aws:states:::s3:listObjectsV2",
                        "Parameters": {"Bucket": bucket, "Prefix.$": "$.prefix"},
                    },
                    "ItemSelector": {"key.$": "$$.Map.Item.Value.Key"},
                    "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, **child},
                    "MaxConcurrency": 50,
                    "ResultSelector": {"count.$": "States.ArrayLength($)"},
                    "ResultPath": "$.parts",
                    "End": True,
                }
            },
        }
    )


@pytest.fixture
def machine() -> Iterator[tuple[Any, Any, str, str]]:
    distributed_map.install()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        bucket = f"dmap-{uuid.uuid4().hex[:12]}"
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=bucket)
        iam = boto3.client("iam", region_name=REGION)
        role = iam.create_role(RoleName=f"r-{bucket}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        sfn = boto3.client("stepfunctions", region_name=REGION)
        arn = sfn.create_state_machine(name=bucket, definition=_machine(bucket), roleArn=role)["stateMachineArn"]
        yield s3, sfn, bucket, arn


def _run(sfn: Any, arn: str, prefix: str) -> dict[str, Any]:
    execution = sfn.start_execution(stateMachineArn=arn, name=uuid.uuid4().hex, input=json.dumps({"prefix": prefix}))
    arn = execution["executionArn"]

    def ended() -> dict[str, Any] | None:
        described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        return described if described["status"] != "RUNNING" else None

    return poll(ended, timeout_s=120, what="the Distributed Map still running")


def test_every_page_of_the_prefix_is_an_item(machine: tuple[Any, Any, str, str]) -> None:
    # GIVEN more objects than one ListObjectsV2 page holds (1,000)
    s3, sfn, bucket, arn = machine
    for n in range(1_003):
        s3.put_object(Bucket=bucket, Key=f"many/{n:05d}.parquet", Body=b"")

    described = _run(sfn, arn, "many/")

    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"])["parts"] == {"count": 1_003}


def test_an_empty_prefix_gives_no_items(machine: tuple[Any, Any, str, str]) -> None:
    _, sfn, _, arn = machine
    described = _run(sfn, arn, "nothing/")
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"])["parts"] == {"count": 0}


def test_a_failed_child_fails_the_map_past_the_default_tolerance(machine: tuple[Any, Any, str, str]) -> None:
    s3, sfn, bucket, arn = machine
    for key in ("mixed/a.parquet", "mixed/bad.parquet", "mixed/c.parquet"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"")

    described = _run(sfn, arn, "mixed/")

    assert (described["status"], described["error"]) == ("FAILED", "States.ExceedToleratedFailureThreshold")
    assert "1 of 3 items failed" in described["cause"]


@pytest.mark.parametrize(
    ("failed", "total", "count", "percentage", "fails"),
    [
        (0, 5, 0, 0, False),
        (1, 5, 0, 0, True),  # neither threshold declared: no failure is tolerated
        (1, 5, 1, 0, False),
        (2, 5, 1, 0, True),
        (1, 5, 0, 20, False),
        (2, 5, 0, 20, True),  # 40 % > 20 %
        (2, 5, 5, 20, True),  # either threshold exceeded fails it
    ],
)
def test_the_tolerance_rule_is_awss(failed: int, total: int, count: int, percentage: float, fails: bool) -> None:
    # AWS fails the Map Run once failures exceed the tolerated count or the tolerated percentage
    assert distributed_map.exceeds_tolerance(failed, total, count, percentage) is fails
