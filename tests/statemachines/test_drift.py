"""Drift in the local cloud, as an operator sees it: a spec with a monitoring section schedules the model's
checks (an EventBridge rule), live traffic through the HTTP API lands as captures, the schedule fires (a tick,
as `slipway local up` fires it at its rate), the drift machine records the check and its report, and a drift
asks for one retraining per cooldown with DriftDetected on the bus."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from slipway import layout
from slipway.objects import S3Object
from slipway.stores.registry import ModelRegistry
from slipway.stores.specs import push_spec
from slipway_cli import drift
from slipway_cli.samples import make_churn, to_csv_bytes
from slipway_cli.target import Target
from slipway_local import LocalCloud
from slipway_local.polling import poll
from tests.conftest import spec_variant, upload_and_wait
from tests.statemachines.test_serving_api import json_rows

MODEL = "churn-drift"
RULE = f"slipway-dev-drift-{MODEL}"
MONITORING = """
monitoring:
  schedule: rate(1 day)
  window: 1d
  min_sample: 50
  retraining: {policy: retrain, cooldown: 1d}
"""


def predict(cloud: LocalCloud, rows: list[dict[str, Any]]) -> dict[str, Any]:
    url = f"{cloud.api_url('dev')}/v1/models/{MODEL}/predict"
    body = json.dumps({"instances": rows}).encode()
    headers = cloud.signed_headers("dev", "POST", url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(
        urllib.request.Request(url, data=body, headers=headers, method="POST"), timeout=30
    ) as r:
        return json.loads(r.read())  # type: ignore[no-any-return]


def captured_rows(cloud: LocalCloud, dev: Target) -> int:
    s3, lake = cloud.client("s3", "dev"), dev.outputs["LakeBucketName"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=lake, Prefix=f"captures/{MODEL}/").get("Contents", [])]
    return sum(len(s3.get_object(Bucket=lake, Key=k)["Body"].read().splitlines()) for k in keys)


def serve(cloud: LocalCloud, dev: Target, rows: list[dict[str, Any]]) -> None:
    """Send rows in requests of 100 and wait until the capture stream has landed them all."""
    before = captured_rows(cloud, dev)
    for start in range(0, len(rows), 100):
        predict(cloud, rows[start : start + 100])
    poll(lambda: captured_rows(cloud, dev) >= before + len(rows) or None, timeout_s=30, what="captures not landed")


def shifted(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {**r, "tenure_months": min(int(r["tenure_months"]) * 3 + 24, 120), "contract_type": "two-year"} for r in rows
    ]


@pytest.fixture(scope="module")
def drift_events(cloud: LocalCloud) -> Callable[[], list[dict[str, Any]]]:
    """A queue in dev subscribed (by an EventBridge rule) to slipway's DriftDetected events."""
    sqs, events = cloud.admin_client("sqs", "dev"), cloud.admin_client("events", "dev")
    url = sqs.create_queue(QueueName="drift-detected")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="drift-detected", EventPattern=json.dumps({"source": ["slipway.drift"]}))
    events.put_targets(Rule="drift-detected", Targets=[{"Id": "queue", "Arn": arn}])
    seen: list[dict[str, Any]] = []

    def received() -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        seen.extend(json.loads(m["Body"]) for m in messages)
        return seen

    return received


@pytest.fixture(scope="module")
def in_production(cloud: LocalCloud, dev: Target) -> int:
    pushed = push_spec(dev.deps, spec_variant(MODEL) + MONITORING)
    assert pushed["drift_schedule"] == "rate(1 day)"
    run = upload_and_wait(cloud, "dev", f"{MODEL}/2026-11-25.csv", to_csv_bytes(make_churn(n_rows=3_000, seed=5)))
    assert run.status == "SUCCEEDED", run.execution.get("cause")
    version = int(run.output["model"]["version"])
    ModelRegistry.of(dev.deps).set_alias(MODEL, "production", version, actor="test", reason="serve")
    return version


def fire(cloud: LocalCloud) -> dict[str, Any]:
    (arn,) = cloud.tick("dev", RULE)[RULE]
    described = cloud.wait_for_execution("dev", arn)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    return json.loads(described["output"])  # type: ignore[no-any-return]


def test_the_spec_schedules_the_models_checks(cloud: LocalCloud, in_production: int) -> None:
    events = cloud.admin_client("events", "dev")
    rule = events.describe_rule(Name=RULE)
    (target,) = events.list_targets_by_rule(Rule=RULE)["Targets"]
    assert (rule["ScheduleExpression"], rule["State"]) == ("rate(1 day)", "ENABLED")
    assert target["Arn"] == cloud.environments["dev"].outputs["DriftStateMachineArn"]
    assert json.loads(target["Input"]) == {"model": MODEL, "window": None}


def test_scheduled_checks_record_drift_and_ask_for_one_retraining_per_cooldown(
    cloud: LocalCloud, dev: Target, in_production: int, drift_events: Callable[[], list[dict[str, Any]]]
) -> None:
    # GIVEN 300 customers like the training data served in production
    serve(cloud, dev, json_rows(300, seed=61))
    # WHEN the schedule fires THEN the check finds no drift, and records it with its report
    calm = fire(cloud)["check"]["result"]
    assert (calm["status"], calm["version"], calm["rows"], calm["drifted"]) == ("checked", in_production, 300, False)
    page = dev.deps.store.get_bytes(S3Object.parse(calm["report_uri"])).decode()
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") >= 10
    assert ModelRegistry.of(dev.deps).get_version(MODEL, in_production)["drift_report_uri"] == calm["report_uri"]

    # GIVEN then 900 customers with two features shifted
    serve(cloud, dev, shifted(json_rows(900, seed=62)))
    # WHEN the schedule fires THEN those two features drift, and a retraining is asked with DriftDetected
    output = fire(cloud)
    found, decision = output["check"]["result"], output["retraining"]["decision"]
    assert found["drifted"] and found["rows"] == 1_200
    assert {"tenure_months", "contract_type"} <= set(found["drifted_features"])
    assert decision["requested"] is True
    sent = poll(lambda: drift_events() or None, timeout_s=10, what="no DriftDetected")
    assert [(e["detail-type"], e["detail"]["model"], e["detail"]["check_id"]) for e in sent] == [
        ("DriftDetected", MODEL, found["check_id"])
    ]
    # WHEN it fires again inside the cooldown THEN it records the drift but starts nothing
    again = fire(cloud)
    assert again["check"]["result"]["drifted"] and again["retraining"]["decision"]["requested"] is False
    assert "inside the cooldown" in again["retraining"]["decision"]["reason"]
    assert len(drift_events()) == 1
    claim = dev.deps.table.get(*layout.retraining_key(MODEL))
    assert claim is not None and claim["check_id"] == found["check_id"]

    # AND the operator's commands show the history and fetch the report
    rows, _ = drift.history(dev, MODEL)
    assert [r["drifted"] for r in rows] == [True, True, False]
    # `slipway drift MODEL --window 1h` runs a check now, through the same machine
    now, _ = drift.check(dev, MODEL, "1h")
    assert now["drifted"] and now["rows"] == 1_200 and now["check_id"].startswith(f"cli-{MODEL}-")
