"""At-least-once events in the local cloud: every event about one uploaded object version names the
same run, so a multipart upload (two events) and a redelivered event start one execution, and a
start that really fails ends in the upload dead-letter queue after Lambda's retries. Two uploads of
the same bytes that race all the way to Register make one model version; the other run ends
cleanly as "already registered"."""

from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from slipway import layout
from slipway.domain.run_names import run_name_for_object
from slipway.stores.registry import ModelRegistry
from slipway.stores.specs import push_spec
from slipway_cli.samples import make_churn, to_csv_bytes
from slipway_cli.target import Target
from slipway_local import LocalCloud
from tests.conftest import MULTIPART, ONE_FOREST, load_event, spec_variant

MODEL = "churn-once"


@pytest.fixture(scope="module")
def once_spec(dev: Target) -> dict[str, Any]:
    return push_spec(dev.deps, spec_variant(MODEL, **ONE_FOREST))


def _executions_named(cloud: LocalCloud, name: str) -> list[dict[str, Any]]:
    return [e for e in cloud.executions("dev") if e["name"] == name]


def _start_invocations(cloud: LocalCloud, key: str) -> list[Any]:
    function = cloud.environments["dev"].functions["StartTrainingFunction"]
    invocations = cloud.runtime.invocations_of(function)
    return [i for i in invocations if i.event.get("detail", {}).get("object", {}).get("key") == key]


def _dead_letters(cloud: LocalCloud) -> list[dict[str, Any]]:
    sqs = cloud.client("sqs", "dev")
    url = cloud.environments["dev"].outputs["UploadDeadLetterQueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def test_a_multipart_upload_runs_once_and_registers_one_version(
    cloud: LocalCloud, dev: Target, once_spec: dict[str, Any]
) -> None:
    # GIVEN a clean 6 MB CSV, uploaded as awscli does above its threshold: in parts (two S3 events)
    body = to_csv_bytes(make_churn(n_rows=40_000, seed=81))
    assert len(body) > MULTIPART.multipart_threshold
    raw_bucket, key = dev.outputs["RawBucketName"], f"{MODEL}/big-export.csv"

    # WHEN it is uploaded and every event has been delivered
    cloud.client("s3", "dev").upload_fileobj(io.BytesIO(body), raw_bucket, key, Config=MULTIPART)
    cloud.runtime.wait_async_idle()
    version_id = cloud.client("s3", "dev").head_object(Bucket=raw_bucket, Key=key)["VersionId"]
    run_name = run_name_for_object(raw_bucket, key, version_id)
    (execution,) = _executions_named(cloud, run_name)
    described = cloud.wait_for_execution("dev", execution["executionArn"])

    # THEN both events named the same run, one execution ran it and one model version came out
    starts = _start_invocations(cloud, key)
    assert len(starts) == 2 and not any(s.is_error for s in starts)
    assert {s.result["run_id"] for s in starts} == {run_name}
    assert described["status"] == "SUCCEEDED", described.get("cause")
    assert [e["name"] for e in cloud.executions("dev") if e["name"].startswith(f"{MODEL}-big-export")] == [run_name]
    assert [v["run_id"] for v in ModelRegistry.of(dev.deps).versions(MODEL)] == [run_name]
    assert _dead_letters(cloud) == []


def test_a_redelivered_event_is_the_same_run_even_at_the_same_moment(
    cloud: LocalCloud, dev: Target, once_spec: dict[str, Any]
) -> None:
    # GIVEN an upload whose run has started
    raw_bucket, key = dev.outputs["RawBucketName"], f"{MODEL}/redelivered.csv"
    put = cloud.client("s3", "dev").put_object(Bucket=raw_bucket, Key=key, Body=b"not,a,churn,file\n1,2,3,4\n")
    cloud.runtime.wait_async_idle()
    run_name = run_name_for_object(raw_bucket, key, put["VersionId"])
    detail = load_event("start_training/object-created.json")["detail"]
    detail["bucket"]["name"] = raw_bucket
    detail["object"].update(key=key, size=25, etag=put["ETag"].strip('"'), **{"version-id": put["VersionId"]})
    event = {"Source": "aws.s3", "DetailType": "Object Created", "Detail": json.dumps(detail)}

    # WHEN EventBridge delivers its event again, four times at once
    events = cloud.client("events", "dev")
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: events.put_events(Entries=[event]), range(4)))
    cloud.runtime.wait_async_idle()

    # THEN every delivery named the one run and none failed; one execution exists
    starts = _start_invocations(cloud, key)
    assert len(starts) == 5 and not any(s.is_error for s in starts)
    assert {s.result["run_id"] for s in starts} == {run_name}
    assert len(_executions_named(cloud, run_name)) == 1
    assert _dead_letters(cloud) == []


def test_a_start_that_keeps_failing_lands_in_the_dead_letter_queue(
    cloud: LocalCloud, dev: Target, once_spec: dict[str, Any]
) -> None:
    # GIVEN Step Functions refusing to start anything in dev (a permanent error, not a taken name)
    fault = cloud.inject_fault("sfn", "StartExecution", times=3, code="AccessDeniedException", status=400, env="dev")
    raw_bucket, key = dev.outputs["RawBucketName"], f"{MODEL}/refused.csv"

    # WHEN an upload arrives
    put = cloud.client("s3", "dev").put_object(Bucket=raw_bucket, Key=key, Body=b"a,b\n1,2\n")
    cloud.runtime.wait_async_idle()

    # THEN Lambda tried three times (the first and its two retries), no run exists, and the failure
    # record in the dead-letter queue names the object version
    assert fault.fired == 3
    assert len(_start_invocations(cloud, key)) == 3
    assert _executions_named(cloud, run_name_for_object(raw_bucket, key, put["VersionId"])) == []
    (record,) = _dead_letters(cloud)
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestPayload"]["detail"]["object"]["version-id"] == put["VersionId"]
    assert "AccessDenied" in record["responsePayload"]["errorMessage"]


def _history_states(cloud: LocalCloud, arn: str) -> list[str]:
    sfn = cloud.admin_client("stepfunctions", "dev")
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


def test_two_uploads_of_the_same_bytes_that_race_register_one_version(cloud: LocalCloud, dev: Target) -> None:
    # GIVEN a model without a regression gate, and Register holding each run until both have arrived
    # (so both were validated, featurised, trained and evaluated before either registered)
    model = "churn-race"
    push_spec(dev.deps, spec_variant(model, **ONE_FOREST, **{"  max_regression: {roc_auc: 0.02}\n": ""}))
    cloud.inject_step_fault("dev", "RegisterFunction", "barrier", parties=2, times=2)
    body = to_csv_bytes(make_churn(n_rows=1_500, seed=82))
    raw_bucket = dev.outputs["RawBucketName"]
    s3 = cloud.client("s3", "dev")

    # WHEN the same bytes are uploaded under two names at once
    with ThreadPoolExecutor(2) as pool:
        puts = list(pool.map(lambda k: s3.put_object(Bucket=raw_bucket, Key=f"{model}/{k}.csv", Body=body), "ab"))
    cloud.runtime.wait_async_idle()
    names = [
        run_name_for_object(raw_bucket, f"{model}/{k}.csv", put["VersionId"]) for k, put in zip("ab", puts, strict=True)
    ]
    runs = [cloud.wait_for_execution("dev", _executions_named(cloud, n)[0]["executionArn"]) for n in names]

    # THEN both runs succeeded; one registered version 1, the other registered nothing and says so
    assert [r["status"] for r in runs] == ["SUCCEEDED", "SUCCEEDED"], [r.get("cause") for r in runs]
    models = sorted((json.loads(r["output"])["model"] for r in runs), key=lambda m: m["outcome"])
    assert [(m["outcome"], m["version"]) for m in models] == [("already_registered", 1), ("registered", 1)]
    winner = models[0]["registered_by"]
    (loser_name,) = [n for n in names if n != winner]
    assert winner in names
    assert [v["run_id"] for v in ModelRegistry.of(dev.deps).versions(model)] == [winner]
    assert len(ModelRegistry.of(dev.deps).alias_log(model)) == 1
    # AND the loser's execution ended in AlreadyRegistered, its run record closed with the version it lost to
    loser_arn = _executions_named(cloud, loser_name)[0]["executionArn"]
    assert _history_states(cloud, loser_arn)[-1] == "AlreadyRegistered"
    loser = dev.deps.table.get(*layout.run_key(loser_name))
    assert loser is not None
    assert (loser["status"], loser["outcome"], loser["model_version"]) == ("SUCCEEDED", "already_registered", 1)
