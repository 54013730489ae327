"""Firehose in the local cloud as on AWS: the template's delivery stream exists in every account,
and records land in the lake under the prefix its expressions evaluate to (dynamic partitioning
by kind and model, the day), newline-delimited, with failures under the error prefix."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from slipway_local import LocalCloud
from slipway_local.firehose import java_date_format, parse_extraction_query, plan_deliveries, validate_destination


def _lake_objects(cloud: LocalCloud, env: str, prefix: str) -> dict[str, bytes]:
    s3 = cloud.client("s3", env)
    lake = cloud.environments[env].outputs["LakeBucketName"]
    listed = s3.list_objects_v2(Bucket=lake, Prefix=prefix).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=lake, Key=o["Key"])["Body"].read() for o in listed}


def test_the_templates_delivery_stream_exists_in_every_account(cloud: LocalCloud) -> None:
    for env, environment in cloud.environments.items():
        name = environment.outputs["CaptureStreamName"]
        described = cloud.client("firehose", env).describe_delivery_stream(DeliveryStreamName=name)
        arn = described["DeliveryStreamDescription"]["DeliveryStreamARN"]
        assert arn.split(":")[4] == environment.account_id


def test_captures_and_feedback_land_partitioned_by_kind_model_and_day(cloud: LocalCloud) -> None:
    # GIVEN captures and feedback of two models, and one record without a model, in one batch
    records: list[dict[str, Any]] = [
        {"kind": "captures", "model": "fh-churn", "request_id": "r1", "prediction": 1},
        {"kind": "captures", "model": "fh-fraud", "request_id": "r2", "prediction": 0},
        {"kind": "captures", "model": "fh-churn", "request_id": "r3", "prediction": 0},
        {"kind": "feedback", "model": "fh-churn", "request_id": "r1", "label": 1},
        {"kind": "feedback", "model": "fh-fraud", "request_id": "r2", "label": 1},
        {"kind": "captures", "request_id": "no-model"},
    ]
    stream = cloud.environments["dev"].outputs["CaptureStreamName"]
    put = cloud.client("firehose", "dev").put_record_batch(
        DeliveryStreamName=stream, Records=[{"Data": json.dumps(r).encode()} for r in records]
    )
    assert put["FailedPutCount"] == 0
    day = datetime.now(UTC).strftime("%Y-%m-%d")  # a test run across midnight UTC may see the next day

    # THEN each (kind, model) has its object under <kind>/<model>/dt=<day>/, newline-delimited JSON
    for kind in ("captures", "feedback"):
        for model in ("fh-churn", "fh-fraud"):
            objects = _lake_objects(cloud, "dev", f"{kind}/{model}/")
            assert len(objects) == 1, objects
            key, body = next(iter(objects.items()))
            assert key.startswith(f"{kind}/{model}/dt={day}/{stream}-")
            assert body.endswith(b"\n")
            read_back = [json.loads(line) for line in body.decode().splitlines()]
            assert read_back == [r for r in records if r.get("kind") == kind and r.get("model") == model]
    # AND the record without a model went to the error prefix, with its raw data
    errors = _lake_objects(cloud, "dev", f"capture-errors/partitioning-failed/dt={day}/")
    failures = [json.loads(line) for body in errors.values() for line in body.decode().splitlines()]
    assert [json.loads(base64.b64decode(f["rawData"])) for f in failures] == [records[-1]]
    assert failures[0]["errorCode"] == "DynamicPartitioning.MetadataExtractionFailed"


NOW = datetime(2026, 11, 26, 7, 5, 9, tzinfo=UTC)


def test_a_prefix_without_timestamp_gets_the_hourly_folders_unless_partitioned() -> None:
    plain = plan_deliveries({"Prefix": "raw/"}, [b"a", b"b"], NOW)
    # no delimiter processor: records concatenated, as on AWS
    assert [(d.prefix, d.body) for d in plain] == [("raw/2026/11/26/07/", b"ab")]
    timed = plan_deliveries({"Prefix": "x/!{timestamp:yyyy}/h=!{timestamp:HH}/"}, [b"a"], NOW)
    assert [d.prefix for d in timed] == ["x/2026/h=07/"]


def test_gzip_and_a_custom_delimiter() -> None:
    delimiter = {"ParameterName": "Delimiter", "ParameterValue": "|"}
    config = {
        "Prefix": "p/",
        "CompressionFormat": "GZIP",
        "ProcessingConfiguration": {
            "Enabled": True,
            "Processors": [{"Type": "AppendDelimiterToRecord", "Parameters": [delimiter]}],
        },
    }
    [delivery] = plan_deliveries(config, [b"a", b"b"], NOW)
    assert gzip.decompress(delivery.body) == b"a|b|"


def test_java_date_patterns_and_jq_queries() -> None:
    assert NOW.strftime(java_date_format("yyyy-MM-dd'T'HH:mm:ss")) == "2026-11-26T07:05:09"
    with pytest.raises(ValueError, match="EEE"):
        java_date_format("EEE")
    assert parse_extraction_query('{kind:.kind, model : .meta.model, "day"}') == {
        "kind": ("kind",),
        "model": ("meta", "model"),
        "day": ("day",),
    }
    with pytest.raises(ValueError):
        parse_extraction_query(".kind | ascii_downcase")


@pytest.mark.parametrize(
    "config",
    [
        {"Prefix": "!{partitionKeyFromQuery:kind}/"},  # no dynamic partitioning
        {"Prefix": "p/", "DynamicPartitioningConfiguration": {"Enabled": True}},  # no error prefix
        {"Prefix": "!{partitionKeyFromLambda:kind}/"},
        {"Prefix": "p/", "ProcessingConfiguration": {"Processors": [{"Type": "Lambda", "Parameters": []}]}},
        {"Prefix": "p/", "CompressionFormat": "Snappy"},
    ],
)
def test_what_the_local_cloud_does_not_realise_is_refused(config: dict[str, Any]) -> None:
    with pytest.raises((ValueError, NotImplementedError)):
        validate_destination(config)
