"""One contract-test suite for each port, run on the in-memory fake and on the AWS adapter over
moto: what the unit tests of the steps assume of a fake is what the adapters really do."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

from slipway import layout
from slipway.adapters.artifacts import S3ArtifactStore
from slipway.adapters.events import EventBridgeBus
from slipway.adapters.firehose import FirehoseSink
from slipway.adapters.metadata import DynamoMetadataTable
from slipway.adapters.online import DynamoOnlineStore
from slipway.adapters.schedules import EventBridgeSchedules
from slipway.adapters.workflows import StepFunctionsWorkflows
from slipway.errors import ConflictError, NotFound
from slipway.objects import S3Object
from slipway.ports import (
    ArtifactStore,
    CaptureSink,
    ConditionalDelete,
    ConditionalUpdate,
    Counter,
    EventBus,
    MetadataTable,
    OnlineRecord,
    OnlineStore,
    Schedules,
    Workflows,
)
from slipway_local import dynamodb as local_dynamodb
from tests.fakes import (
    FakeArtifactStore,
    FakeCaptureSink,
    FakeEventBus,
    FakeMetadataTable,
    FakeOnlineStore,
    FakeSchedules,
    FakeWorkflows,
)

REGION = "us-east-1"
TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """Reads the template's YAML, tags (!Sub, !Ref …) as plain values."""


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def _table_definition(resource: str = "MetadataTable") -> dict[str, Any]:
    """A table's key schema, GSIs and billing exactly as the template declares them."""
    props = yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)["Resources"][resource]["Properties"]
    keys = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")
    return {k: props[k] for k in keys if k in props}


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def bucket() -> str:
    """A fresh name per test: moto keeps state while another mock (the session's local cloud) is active."""
    return f"contract-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["fake", "aws"])
def store(request: pytest.FixtureRequest, bucket: str) -> ArtifactStore:
    if request.param == "fake":
        return FakeArtifactStore([bucket])
    request.getfixturevalue("aws")
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return S3ArtifactStore(s3)


@pytest.fixture(params=["fake", "aws"])
def table(request: pytest.FixtureRequest, bucket: str) -> MetadataTable:
    if request.param == "fake":
        return FakeMetadataTable()
    request.getfixturevalue("aws")
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(TableName=bucket, **_table_definition())
    return DynamoMetadataTable(dynamodb, bucket)


@pytest.fixture(params=["fake", "aws"])
def online(request: pytest.FixtureRequest, bucket: str) -> OnlineStore:
    if request.param == "fake":
        return FakeOnlineStore()
    request.getfixturevalue("aws")
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(TableName=bucket, **_table_definition("OnlineTable"))
    return DynamoOnlineStore(dynamodb, bucket)


@pytest.fixture(params=["fake", "aws"])
def bus(request: pytest.FixtureRequest) -> EventBus:
    if request.param == "fake":
        return FakeEventBus()
    request.getfixturevalue("aws")
    return EventBridgeBus(boto3.client("events", region_name=REGION), "default")


@pytest.fixture(params=["fake", "aws"])
def workflows(request: pytest.FixtureRequest, bucket: str) -> tuple[Workflows, str]:
    """The port and a state machine that does nothing."""
    if request.param == "fake":
        return FakeWorkflows(), f"arn:aws:states:{REGION}:123456789012:stateMachine:{bucket}"
    request.getfixturevalue("aws")
    sfn = boto3.client("stepfunctions", region_name=REGION)
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
    machine = sfn.create_state_machine(
        name=bucket, definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/contract"
    )
    return StepFunctionsWorkflows(sfn), machine["stateMachineArn"]


@pytest.fixture(params=["fake", "aws"])
def schedules(request: pytest.FixtureRequest, bucket: str) -> Schedules:
    if request.param == "fake":
        return FakeSchedules()
    request.getfixturevalue("aws")
    machine = f"arn:aws:states:{REGION}:123456789012:stateMachine:slipway-{bucket}-drift"
    role = "arn:aws:iam::123456789012:role/drift-schedule"
    return EventBridgeSchedules(boto3.client("events", region_name=REGION), bucket, machine, role)


@pytest.fixture
def obj(bucket: str) -> Callable[..., S3Object]:
    def make(key: str, version_id: str | None = None) -> S3Object:
        return S3Object(bucket=bucket, key=key, version_id=version_id)

    return make


# ---------------------------------------------------------------- artifact store


def test_store_round_trips_bytes_and_json(store: ArtifactStore, obj: Callable[..., S3Object]) -> None:
    written = store.put_bytes(obj("a/b.bin"), b"\x00\x01payload")
    store.put_json(obj("a/c.json"), {"n": 1, "when": "2026-11-26"})
    assert store.get_bytes(obj("a/b.bin")) == b"\x00\x01payload"
    assert store.get_json(obj("a/c.json")) == {"n": 1, "when": "2026-11-26"}
    assert written.key == "a/b.bin" and written.version_id


def test_store_downloads_a_pinned_version_to_a_file(
    store: ArtifactStore, obj: Callable[..., S3Object], tmp_path: Path
) -> None:
    first = store.put_bytes(obj("big.bin"), bytes(range(256)) * 40_000)  # 10 MB: more than one part
    store.put_bytes(obj("big.bin"), b"later")
    assert store.download(first, tmp_path / "big.bin") == 10_240_000
    assert (tmp_path / "big.bin").read_bytes() == bytes(range(256)) * 40_000
    with pytest.raises(NotFound):
        store.download(obj("absent.bin"), tmp_path / "absent.bin")


def test_store_keeps_every_version_and_reads_a_pinned_one(store: ArtifactStore, obj: Callable[..., S3Object]) -> None:
    first = store.put_bytes(obj("k"), b"one")
    second = store.put_bytes(obj("k"), b"two")
    assert store.get_bytes(obj("k")) == b"two"
    assert store.get_bytes(obj("k", first.version_id)) == b"one"
    assert store.versions(obj("k")) == [second.version_id, first.version_id]
    assert store.versions(obj("missing")) == []


def test_store_missing_objects_and_buckets_are_not_found(store: ArtifactStore, obj: Callable[..., S3Object]) -> None:
    with pytest.raises(NotFound):
        store.get_bytes(obj("nothing/here"))
    with pytest.raises(NotFound):
        store.get_bytes(S3Object(bucket="no-such-bucket", key="k"))
    assert store.exists(obj("nothing/here")) is False
    store.put_bytes(obj("there"), b"x")
    assert store.exists(obj("there")) is True


def test_store_copy_pins_the_source_version(store: ArtifactStore, obj: Callable[..., S3Object]) -> None:
    first = store.put_bytes(obj("src"), b"original")
    store.put_bytes(obj("src"), b"overwritten")
    copied = store.copy(obj("src", first.version_id), obj("dst/copy"))
    assert store.get_bytes(obj("dst/copy")) == b"original"
    assert copied.key == "dst/copy" and copied.version_id


def test_store_lists_every_key_under_a_prefix_sorted(store: ArtifactStore, obj: Callable[..., S3Object]) -> None:
    # GIVEN more keys than one S3 page (1,000) under one prefix, beside others
    keys = [f"captures/m/dt=2026-11-25/{n:05d}.json" for n in range(1_005)]
    for key in reversed(keys):
        store.put_bytes(obj(key), b"{}")
    store.put_bytes(obj("captures/m/dt=2026-11-26/a.json"), b"{}")
    store.put_bytes(obj("captures/mx/dt=2026-11-25/b.json"), b"{}")
    # THEN a listing returns every key under its prefix, in order, and nothing else
    bucket = obj("x").bucket
    assert store.list_keys(bucket, "captures/m/dt=2026-11-25/") == keys
    assert store.list_keys(bucket, "captures/m/") == [*keys, "captures/m/dt=2026-11-26/a.json"]
    assert store.list_keys(bucket, "captures/none/") == []
    with pytest.raises(NotFound):
        store.list_keys("no-such-bucket", "captures/")


# ---------------------------------------------------------------- metadata table


def test_table_put_new_refuses_a_taken_key(table: MetadataTable) -> None:
    assert table.put_new({"PK": "P", "SK": "S", "n": 1}) is True
    assert table.put_new({"PK": "P", "SK": "S", "n": 2}) is False
    assert table.get("P", "S") == {"PK": "P", "SK": "S", "n": 1}
    assert table.get("P", "other") is None


def test_table_stores_values_as_dynamodb_returns_them(table: MetadataTable) -> None:
    table.put({"PK": "P", "SK": "S", "whole": 1.0, "half": 0.5, "gone": None, "nested": {"x": None, "l": [1, 2.5]}})
    assert table.get("P", "S") == {"PK": "P", "SK": "S", "whole": 1, "half": 0.5, "nested": {"x": None, "l": [1, 2.5]}}


def test_table_stores_what_dynamodb_cannot_hold_as_what_it_can(table: MetadataTable) -> None:
    # GIVEN numbers DynamoDB refuses: NaN and infinities (a statistic without data), a magnitude below 1e-130
    # (a strong shift's p-value), at the top and nested, beside ordinary ones
    odd = {"nan": float("nan"), "inf": float("inf"), "tiny": 1e-300, "small": 1e-120, "neg": -2.5e-131}
    table.put({"PK": "P", "SK": "odd", **odd, "nested": {"p": [1e-300, 0.05, float("-inf")]}})
    # THEN the put goes through and reads back as DynamoDB can hold it: None (left out at the top level, as a None
    # attribute is), 0, the others unchanged
    assert table.get("P", "odd") == {
        "PK": "P",
        "SK": "odd",
        "tiny": 0,
        "small": 1e-120,
        "neg": 0,
        "nested": {"p": [0, 0.05, None]},
    }
    # AND an update setting NaN removes the attribute, as a put leaves it out; a tiny number becomes 0
    after = table.update("P", "odd", {"small": float("nan"), "p": 1e-200})
    assert "small" not in after and after["p"] == 0 and table.get("P", "odd") == after


def test_table_query_orders_by_sort_key_and_filters_by_prefix(table: MetadataTable) -> None:
    for sk in ("item-000002", "item-000010", "item-000001", "pointer"):
        table.put({"PK": "P", "SK": sk})
    table.put({"PK": "Q", "SK": "item-000003"})
    assert [i["SK"] for i in table.query("P", "item-")] == ["item-000001", "item-000002", "item-000010"]
    assert [i["SK"] for i in table.query("P", "item-", newest_first=True, limit=2)] == ["item-000010", "item-000002"]
    assert len(table.query("P")) == 4


def test_table_query_reads_page_after_page_both_ways(table: MetadataTable) -> None:
    for n in range(1, 8):
        table.put({"PK": "P", "SK": f"V#{n:06d}", "GSI1PK": "ALL", "GSI1SK": f"P#{n:06d}"})
    for newest_first, index, expected in (
        (False, None, [[1, 2, 3], [4, 5, 6], [7]]),
        (True, None, [[7, 6, 5], [4, 3, 2], [1]]),
        (True, "GSI1", [[7, 6, 5], [4, 3, 2], [1]]),
    ):
        pages, after = [], None
        while True:
            pk, prefix = ("ALL", "") if index else ("P", "V#")
            page = table.query(pk, prefix, index=index, newest_first=newest_first, limit=3, start_after=after)
            if not page:
                break
            pages.append([int(i["SK"][2:]) for i in page])
            after = layout.page_key(page[-1], index)
        assert pages == expected


def test_table_query_starts_after_a_key_that_is_no_item(table: MetadataTable) -> None:
    # GIVEN versions of two models listed on the index (what ModelRegistry.model_names reads one item per model of)
    for model, count in (("churn", 3), ("churn-promo", 2), ("fraud", 1)):
        for n in range(1, count + 1):
            table.put({"PK": f"MODEL#{model}", "SK": f"V#{n:06d}", "model": model, "GSI1PK": "MODELS",
                       "GSI1SK": f"{model}#V#{n:06d}"})  # fmt: skip
    # WHEN each query starts past the previous model's last possible version
    names, after = [], None
    while found := table.query("MODELS", index="GSI1", limit=1, start_after=after):
        names.append(found[0]["model"])
        after = {"PK": f"MODEL#{names[-1]}", "SK": "V#999999", "GSI1PK": "MODELS", "GSI1SK": f"{names[-1]}#V#999999"}
    # THEN each model is read once
    assert names == ["churn", "churn-promo", "fraud"]


def test_table_query_on_the_index(table: MetadataTable) -> None:
    table.put({"PK": "a", "SK": "META", "GSI1PK": "LISTED", "GSI1SK": "2026-11-02#a"})
    table.put({"PK": "b", "SK": "META", "GSI1PK": "LISTED", "GSI1SK": "2026-11-03#b"})
    table.put({"PK": "c", "SK": "META"})  # not listed
    assert [i["PK"] for i in table.query("LISTED", index="GSI1", newest_first=True)] == ["b", "a"]


def test_table_update_sets_removes_and_upserts(table: MetadataTable) -> None:
    created = table.update("P", "S", {"a": 1, "b": "x"})
    assert created == {"PK": "P", "SK": "S", "a": 1, "b": "x"}
    after = table.update("P", "S", {"a": 2, "b": None})
    assert after == {"PK": "P", "SK": "S", "a": 2}
    assert table.get("P", "S") == after


def test_table_update_with_expectations_is_conditional(table: MetadataTable) -> None:
    table.update("P", "pointer", {"version": 1}, expect={"version": None})
    with pytest.raises(ConflictError):
        table.update("P", "pointer", {"version": 3}, expect={"version": 2})
    with pytest.raises(ConflictError):
        table.update("P", "pointer", {"version": 3}, expect={"version": None})
    assert table.get("P", "pointer")["version"] == 1  # type: ignore[index]
    assert table.update("P", "pointer", {"version": 2}, expect={"version": 1})["version"] == 2


def test_table_delete_is_conditional_and_idempotent(table: MetadataTable) -> None:
    table.put({"PK": "P", "SK": "pointer", "version": 2})
    with pytest.raises(ConflictError):
        table.delete("P", "pointer", expect={"version": 1})
    assert table.get("P", "pointer") is not None
    table.delete("P", "pointer", expect={"version": 2})
    assert table.get("P", "pointer") is None
    table.delete("P", "pointer")  # absent: nothing happens


def test_table_transaction_is_all_or_nothing(table: MetadataTable) -> None:
    assert table.transact([{"PK": "P", "SK": "one"}], Counter("P", "counter", 0, 1)) is True
    assert table.get("P", "counter")["value"] == 1  # type: ignore[index]
    # a stale counter: nothing is written
    assert table.transact([{"PK": "P", "SK": "two"}], Counter("P", "counter", 0, 2)) is False
    assert table.get("P", "two") is None
    # a taken key: the counter does not move
    assert table.transact([{"PK": "P", "SK": "one"}], Counter("P", "counter", 1, 2)) is False
    assert table.get("P", "counter")["value"] == 1  # type: ignore[index]
    assert table.transact([{"PK": "P", "SK": "two"}], Counter("P", "counter", 1, 2)) is True


def test_table_transaction_with_conditional_updates_is_all_or_nothing(table: MetadataTable) -> None:
    # an alias moved from nothing to 1, with its log entry, in one transaction
    move = ConditionalUpdate("P", "alias", {"version": 1}, expect={"version": None})
    assert table.transact([{"PK": "P", "SK": "log-1", "version": 1}], updates=[move]) is True
    assert table.get("P", "alias") == {"PK": "P", "SK": "alias", "version": 1}
    # a stale expectation: neither the log entry nor the move is written
    stale = ConditionalUpdate("P", "alias", {"version": 3}, expect={"version": 2})
    assert table.transact([{"PK": "P", "SK": "log-3"}], updates=[stale]) is False
    assert table.get("P", "log-3") is None and table.get("P", "alias")["version"] == 1  # type: ignore[index]
    # a taken log key: the alias does not move
    taken = ConditionalUpdate("P", "alias", {"version": 2}, expect={"version": 1})
    assert table.transact([{"PK": "P", "SK": "log-1"}], updates=[taken]) is False
    assert table.get("P", "alias")["version"] == 1  # type: ignore[index]
    assert table.transact([{"PK": "P", "SK": "log-2"}], updates=[taken]) is True
    assert table.get("P", "alias")["version"] == 2  # type: ignore[index]


def test_table_transaction_with_conditional_deletes_is_all_or_nothing(table: MetadataTable) -> None:
    # GIVEN an alias at version 2
    table.put({"PK": "P", "SK": "alias", "version": 2})
    # WHEN it is cleared with a stale expectation: neither the log entry is written nor the alias removed
    stale = ConditionalDelete("P", "alias", expect={"version": 1})
    assert table.transact([{"PK": "P", "SK": "log-1"}], deletes=[stale]) is False
    assert table.get("P", "log-1") is None and table.get("P", "alias") == {"PK": "P", "SK": "alias", "version": 2}
    # WHEN the log key is taken: the alias stays
    table.put({"PK": "P", "SK": "log-2"})
    current = ConditionalDelete("P", "alias", expect={"version": 2})
    assert table.transact([{"PK": "P", "SK": "log-2", "cleared": True}], deletes=[current]) is False
    assert table.get("P", "alias") is not None and table.get("P", "log-2") == {"PK": "P", "SK": "log-2"}
    # THEN with the right expectation and a free log key, both happen together
    assert table.transact([{"PK": "P", "SK": "log-3", "cleared": True}], deletes=[current]) is True
    assert table.get("P", "alias") is None and table.get("P", "log-3") == {"PK": "P", "SK": "log-3", "cleared": True}


def test_table_concurrent_put_new_has_one_winner(table: MetadataTable) -> None:
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda n: table.put_new({"PK": "P", "SK": "once", "writer": n}), range(8)))
    assert results.count(True) == 1


# ---------------------------------------------------------------- online feature store


def _record(key: str, event_us: int, version: int = 1, **values: float | None) -> OnlineRecord:
    return OnlineRecord(
        key=key,
        event_us=event_us,
        values=json.dumps(values or {"spend": event_us / 7}),
        version=version,
        expires_at=event_us // 1_000_000 + 86_400,
    )


def test_online_reads_what_was_written_and_nothing_else(online: OnlineStore) -> None:
    # GIVEN two entities written, values as the materialisation encodes them (floats exactly, nulls)
    first = _record("activity#C-1", 1_700_000_000_123_456, spend=0.1 + 0.2, visits=None)
    second = _record("activity#C-2", 1_700_000_000_000_000, spend=-1e-300)
    assert online.write_newer([first, second]) == 2
    # THEN a read returns exactly those records, for the keys that exist, asked twice or not
    assert online.read(["activity#C-1", "activity#C-9", "activity#C-1", "other#C-2"]) == {"activity#C-1": first}
    assert online.read(["activity#C-2"])["activity#C-2"] == second
    assert json.loads(online.read(["activity#C-1"])["activity#C-1"].values) == {"spend": 0.1 + 0.2, "visits": None}
    assert online.read([]) == {}


def test_online_an_older_write_is_refused_and_a_newer_one_wins(online: OnlineStore) -> None:
    # GIVEN an entity's values at t=2000
    held = _record("activity#C-1", 2_000, version=2, spend=2.0)
    assert online.write_newer([held]) == 1
    # WHEN an older upload brings t=1000 (out of order): refused, the newer values stay
    assert online.write_newer([_record("activity#C-1", 1_000, version=3, spend=1.0)]) == 0
    assert online.read(["activity#C-1"]) == {"activity#C-1": held}
    # WHEN a newer one brings t=3000: it replaces them
    newer = _record("activity#C-1", 3_000, version=4, spend=3.0)
    assert online.write_newer([newer]) == 1
    assert online.read(["activity#C-1"]) == {"activity#C-1": newer}


def test_online_a_replay_changes_nothing(online: OnlineStore) -> None:
    # GIVEN an upload's records written
    records = [_record(f"activity#C-{n}", 5_000 + n, version=1) for n in range(5)]
    assert online.write_newer(records) == 5
    # WHEN the same event times come again (a replayed upload, even as another version with other values)
    replay = [_record(r.key, r.event_us, version=2, spend=-1.0) for r in records]
    assert online.write_newer(replay) == 0
    assert online.write_newer(records) == 0
    # THEN the store holds the first write, untouched
    assert online.read([r.key for r in records]) == {r.key: r for r in records}


def test_online_batches_past_dynamodbs_limits_with_some_older(online: OnlineStore) -> None:
    # GIVEN 150 entities held at t=1000
    held = [_record(f"activity#C-{n:03d}", 1_000) for n in range(150)]
    assert online.write_newer(held) == 150
    # WHEN 250 records come (more than one BatchGetItem or TransactWriteItems of 100): the even ones of the 150
    # older (refused), the odd ones newer, and 100 new entities
    incoming = [_record(f"activity#C-{n:03d}", 500 if n % 2 == 0 else 2_000) for n in range(150)]
    incoming += [_record(f"activity#C-{n:03d}", 1_500) for n in range(150, 250)]
    assert online.write_newer(incoming) == 75 + 100
    # THEN each key holds its newest record
    stored = online.read([f"activity#C-{n:03d}" for n in range(250)])
    assert len(stored) == 250
    assert {k: r.event_us for k, r in stored.items()} == {
        r.key: max(r.event_us, 1_000) if int(r.key[-3:]) < 150 else r.event_us for r in incoming
    }


def test_online_two_racing_writers_leave_the_newest(online: OnlineStore) -> None:
    # moto alone runs a transaction's items unisolated from other threads' requests (an older put can land after
    # a newer one passed its condition); the local cloud's DynamoDB answers one request at a time, as DynamoDB
    # applies a transaction, and is what the deployed functions meet locally
    local_dynamodb.install()
    # GIVEN two uploads of the same 60 entities, one older, written at once (their reads see neither)
    keys = [f"activity#C-{n}" for n in range(60)]
    older = [_record(k, 1_000, version=1) for k in keys]
    newer = [_record(k, 2_000, version=2) for k in keys]
    with ThreadPoolExecutor(2) as pool:
        written_older, written_newer = pool.map(online.write_newer, [older, newer])
    # THEN the newer values are held for every entity, whichever transaction landed first
    assert written_newer == 60 and 0 <= written_older <= 60
    assert {k: r.version for k, r in online.read(keys).items()} == dict.fromkeys(keys, 2)


# ---------------------------------------------------------------- capture sink


@pytest.fixture(params=["fake", "aws"])
def sink(request: pytest.FixtureRequest, bucket: str) -> CaptureSink:
    if request.param == "fake":
        return FakeCaptureSink()
    request.getfixturevalue("aws")
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=bucket)
    firehose = boto3.client("firehose", region_name=REGION)
    firehose.create_delivery_stream(
        DeliveryStreamName=bucket,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "BucketARN": f"arn:aws:s3:::{bucket}",
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
        },
    )
    return FirehoseSink(firehose, bucket)


def test_sink_takes_batches_larger_than_one_call(sink: CaptureSink) -> None:
    records = [{"kind": "captures", "model": "churn", "n": n} for n in range(1_201)]
    sink.put(records)  # PutRecordBatch takes 500 at a time: three calls, no error
    sink.put([])


def test_sink_refuses_a_record_that_is_not_json(sink: CaptureSink) -> None:
    with pytest.raises(TypeError):
        sink.put([{"kind": "captures", "model": "churn", "bad": {1, 2}}])


# ---------------------------------------------------------------- event bus


def test_bus_returns_distinct_event_ids(bus: EventBus) -> None:
    first = bus.put("slipway.test", "Thing Happened", {"model": "churn", "version": 3})
    second = bus.put("slipway.test", "Thing Happened", {"model": "churn", "version": 3})
    assert first and second and first != second


def test_bus_refuses_a_detail_that_is_not_json(bus: EventBus) -> None:
    with pytest.raises(TypeError):
        bus.put("slipway.test", "Thing Happened", {"when": object()})


# ---------------------------------------------------------------- workflows


def test_workflows_start_a_named_execution_once(workflows: tuple[Workflows, str]) -> None:
    port, machine = workflows
    first = port.start(machine, "run-1", {"raw": {"bucket": "b", "key": "m/a.csv", "version_id": "v1"}})
    assert first.execution_arn.endswith(":execution:" + machine.rsplit(":", 1)[1] + ":run-1")
    assert first.already_exists is False


def test_workflows_a_taken_name_is_the_existing_execution(workflows: tuple[Workflows, str]) -> None:
    port, machine = workflows
    first = port.start(machine, "run-1", {"raw": {"bucket": "b", "key": "m/a.csv", "version_id": "v1"}})
    # the same name with other input: refused by Step Functions, answered with the existing execution
    other = port.start(machine, "run-1", {"raw": {"bucket": "b", "key": "m/a.csv", "version_id": "v1"}, "n": 2})
    assert (other.execution_arn, other.already_exists) == (first.execution_arn, True)
    # the same name and input: the same execution (refused once it ended; while it runs, AWS answers with it)
    again = port.start(machine, "run-1", {"raw": {"bucket": "b", "key": "m/a.csv", "version_id": "v1"}})
    assert again.execution_arn == first.execution_arn


# ---------------------------------------------------------------- schedules


def test_schedules_put_change_and_remove_a_models_schedule(schedules: Schedules) -> None:
    assert schedules.get("churn") is None
    schedules.put("churn", "rate(1 day)")
    schedules.put("churn", "rate(6 hours)")  # a new spec changes it in place
    schedules.put("iris", "cron(0 6 * * ? *)")
    assert (schedules.get("churn"), schedules.get("iris")) == ("rate(6 hours)", "cron(0 6 * * ? *)")
    schedules.remove("churn")
    schedules.remove("churn")  # absent: nothing happens
    assert (schedules.get("churn"), schedules.get("iris")) == (None, "cron(0 6 * * ? *)")


def test_schedules_start_the_drift_machine_with_the_model() -> None:
    with mock_aws():
        events = boto3.client("events", region_name=REGION)
        machine = f"arn:aws:states:{REGION}:123456789012:stateMachine:slipway-dev-drift"
        port = EventBridgeSchedules(events, "dev", machine, "arn:aws:iam::123456789012:role/drift-schedule")
        name = port.put("churn", "rate(1 day)")
        (target,) = events.list_targets_by_rule(Rule=name)["Targets"]
        assert (name, target["Arn"], json.loads(target["Input"])) == (
            "slipway-dev-drift-churn",
            machine,
            {"model": "churn", "window": None},
        )
        with pytest.raises(NotFound, match="no drift state machine"):
            EventBridgeSchedules(events, "dev", "", "").put("churn", "rate(1 day)")
