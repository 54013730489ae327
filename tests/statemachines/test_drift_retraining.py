"""The closed loop's first half in the local cloud: a drift check that asks for a retraining puts DriftDetected on
the bus, its rule starts one training run (named after the check), and that run starts from the latest curated
upload plus the labelled captures (served inputs, feedback as target), passes the gates and registers a version."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from slipway import layout
from slipway.registry import ModelRegistry
from slipway.specstore import push_spec
from slipway_cli.samples import make_churn, to_csv_bytes
from slipway_cli.target import Target
from slipway_local import LocalCloud
from slipway_local.polling import poll
from tests.conftest import spec_variant, upload_and_wait
from tests.statemachines.test_serving_api import json_rows

MODEL = "churn-retrain"
RULE = f"slipway-dev-drift-{MODEL}"
MONITORING = """
monitoring:
  schedule: rate(1 day)
  window: 1d
  min_sample: 50
  retraining: {policy: retrain, cooldown: 1d}
"""


def post(cloud: LocalCloud, path: str, payload: dict[str, Any]) -> dict[str, Any]:
    url = f"{cloud.api_url('dev')}/v1/models/{MODEL}/{path}"
    body = json.dumps(payload).encode()
    headers = cloud.signed_headers("dev", "POST", url, body, {"Content-Type": "application/json"})
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as r:
        return json.loads(r.read())  # type: ignore[no-any-return]


def landed(cloud: LocalCloud, dev: Target, kind: str) -> int:
    s3, lake = cloud.client("s3", "dev"), dev.outputs["LakeBucketName"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=lake, Prefix=f"{kind}/{MODEL}/").get("Contents", [])]
    return sum(len(s3.get_object(Bucket=lake, Key=k)["Body"].read().splitlines()) for k in keys)


@pytest.fixture(scope="module")
def in_production(cloud: LocalCloud, dev: Target) -> int:
    push_spec(dev.deps, spec_variant(MODEL) + MONITORING)
    run = upload_and_wait(cloud, "dev", f"{MODEL}/2026-11-25.csv", to_csv_bytes(make_churn(n_rows=3_000, seed=5)))
    assert run.status == "SUCCEEDED", run.execution.get("cause")
    version = int(run.output["model"]["version"])
    ModelRegistry.of(dev.deps).set_alias(MODEL, "production", version, actor="test", reason="serve")
    return version


def test_drift_detected_retrains_on_the_curated_upload_plus_labelled_captures(
    cloud: LocalCloud, dev: Target, in_production: int
) -> None:
    # GIVEN 600 shifted customers served in production, 200 of them with ground truth
    rows = [
        {**r, "tenure_months": min(int(r["tenure_months"]) * 3 + 24, 120), "contract_type": "two-year"}
        for r in json_rows(600, seed=72)
    ]
    answers = [post(cloud, "predict", {"instances": rows[k : k + 100]}) for k in range(0, 600, 100)]
    labelled = [
        {"request_id": a["request_id"], "row": j, "actual": int(p)}
        for a in answers[:2]
        for j, p in enumerate(a["predictions"])
    ]
    assert post(cloud, "feedback", {"feedback": labelled})["accepted"] == 200
    poll(lambda: landed(cloud, dev, "captures") >= 600 or None, timeout_s=30, what="captures not landed")
    poll(lambda: landed(cloud, dev, "feedback") >= 200 or None, timeout_s=30, what="feedback not landed")
    known = {e["executionArn"] for e in cloud.executions("dev")}

    # WHEN the schedule fires and the check finds drift
    (arn,) = cloud.tick("dev", RULE)[RULE]
    checked = cloud.wait_for_execution("dev", arn)
    assert checked["status"] == "SUCCEEDED", checked.get("cause")
    decision = json.loads(checked["output"])["retraining"]["decision"]
    assert decision["requested"] is True, decision

    # THEN DriftDetected starts one training run, named after the check, which registers a new version
    started = cloud.wait_for_new_execution("dev", known, timeout_s=60)
    assert started.rsplit(":", 1)[-1].startswith(f"retrain-{MODEL}-")
    run = cloud.wait_for_execution("dev", started, timeout_s=300)
    assert run["status"] == "SUCCEEDED", run.get("cause")
    output = json.loads(run["output"])
    assert output["model"]["version"] == in_production + 1 and output["gate"]["passed"]
    dataset = dev.deps.table.get(*layout.dataset_key(MODEL, output["dataset"]["dataset_version"]))
    assert dataset is not None and dataset["origin"] == "retraining" and dataset["captured_rows"] == 200
    # AND production still serves the drifted version: promotion per policy is not wired yet
    assert ModelRegistry.of(dev.deps).alias(MODEL, "production") == in_production
