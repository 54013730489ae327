"""The infer function across a SnapStart snapshot and restore, in one process: the local cloud runs the hooks the
function registered (snapshot_restore_py) as Lambda runs them around a snapshot, while the HTTP API keeps calling
the function through the alias the template names. A restored function serves, routes by the aliases as they are
after the restore (not as read before the snapshot) and captures, with clients made after the restore."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from slipway.adapters import clients
from slipway.stores.specs import push_spec
from slipway_cli import serving
from slipway_cli.samples import make_churn, to_csv_bytes
from slipway_cli.target import Target
from slipway_local import LocalCloud
from slipway_local.polling import poll
from tests.conftest import ONE_FOREST, spec_variant, upload_and_wait
from tests.statemachines.test_serving_api import json_rows

MODEL = "churn-snap"
FUNCTION = "InferFunction"


@pytest.fixture(scope="module")
def versions(cloud: LocalCloud, dev: Target) -> tuple[int, int]:
    """Two registered versions of one model, trained by the training machine from two uploads; none in production."""
    push_spec(dev.deps, spec_variant(MODEL, **ONE_FOREST))
    found = []
    for seed in (5, 6):
        body = to_csv_bytes(make_churn(n_rows=1_500, seed=seed))
        run = upload_and_wait(cloud, "dev", f"{MODEL}/2026-12-0{seed}.csv", body)
        assert run.status == "SUCCEEDED", run.execution.get("cause")
        found.append(int(run.output["model"]["version"]))
    return found[0], found[1]


def _predict(cloud: LocalCloud, url: str, rows: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    target = f"{url}/v1/models/{MODEL}/predict"
    data = json.dumps({"instances": rows}).encode()
    headers = cloud.signed_headers("dev", "POST", target, data, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(urllib.request.Request(target, data=data, headers=headers), timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _captured(cloud: LocalCloud, dev: Target, request_id: str) -> list[dict[str, Any]]:
    s3 = cloud.client("s3", "dev")
    lake = dev.outputs["LakeBucketName"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=lake, Prefix=f"captures/{MODEL}/").get("Contents", [])]
    lines = [line for key in keys for line in s3.get_object(Bucket=lake, Key=key)["Body"].read().decode().splitlines()]
    return [r for r in map(json.loads, filter(str.strip, lines)) if r.get("request_id") == request_id]


def test_the_http_api_calls_the_function_through_its_alias(
    versions: tuple[int, int], cloud: LocalCloud, dev: Target, dev_api_url: str
) -> None:
    # GIVEN the template's AutoPublishAlias: one published version, the alias `live` on it
    lam = cloud.client("lambda", "dev")
    name = cloud.environments["dev"].functions[FUNCTION]
    live = lam.get_alias(FunctionName=name, Name="live")
    assert live["FunctionVersion"] != "$LATEST"
    # WHEN a client calls the API THEN the version the alias names answers
    status, _ = _predict(cloud, dev_api_url, json_rows(1))
    assert status in (200, 404)  # 404 until a version is in production; the function answered either way
    assert cloud.runtime.invocations_of(name)[-1].version == live["FunctionVersion"]


def test_a_restored_function_serves_routes_and_captures_with_fresh_clients(
    versions: tuple[int, int], cloud: LocalCloud, dev: Target, dev_api_url: str
) -> None:
    first, second = versions
    serving.aliases_set(dev, MODEL, "production", first, reason="snapstart test", expect_previous="none")
    # GIVEN a warm function that answers with the production version (and has read the aliases: it trusts them
    # for a few seconds)
    status, before = _predict(cloud, dev_api_url, json_rows(2, seed=50))
    assert (status, before["version"]) == (200, first), before
    session = clients._default_session()

    # WHEN Lambda takes the snapshot: the before-snapshot hooks run
    assert cloud.run_snapstart_hooks("dev", FUNCTION, "before_snapshot") >= 1
    # THEN what was captured before it is delivered already (the capture sender is stopped, not frozen)
    assert sorted(r["row"] for r in _captured(cloud, dev, before["request_id"])) == [0, 1]

    # WHEN, while the snapshot waits, production moves to another version, and then an environment is restored
    serving.aliases_set(dev, MODEL, "production", second, reason="moved after the snapshot", expect_previous=str(first))
    assert cloud.run_snapstart_hooks("dev", FUNCTION, "after_restore") >= 1

    # THEN the restored function answers at once with the version production holds now
    status, after = _predict(cloud, dev_api_url, json_rows(2, seed=51))
    assert (status, after["version"], after["variant"]) == (200, second, "production"), after
    # AND its requests are captured again, by a new sender
    captured = poll(lambda: _captured(cloud, dev, after["request_id"]) or None, timeout_s=20, what="no captures")
    assert sorted(r["row"] for r in captured) == [0, 1] and {r["version"] for r in captured} == {second}
    # AND its clients came from a session made after the restore
    assert clients._default_session() is not session
