"""In-memory fakes of the ports (artifact store, metadata table, event bus, clock), for unit tests
of the steps. tests/functional/test_port_contracts.py runs the same contract tests on these and on the
AWS adapters over moto, so a fake cannot drift from what the adapters do."""

from __future__ import annotations

import copy
import json
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from slipway.adapters.metadata import as_stored
from slipway.adapters.workflows import execution_arn
from slipway.errors import ConflictError, NotFound
from slipway.objects import S3Object
from slipway.ports import ConditionalDelete, ConditionalUpdate, Counter, Deps, OnlineRecord, Started
from slipway.settings import Settings

SETTINGS = Settings(
    env="dev",
    region="us-east-1",
    raw_bucket="raw",
    lake_bucket="lake",
    artifacts_bucket="artifacts",
    metadata_table="metadata",
    pii_salt="unit-salt",
    code_version="unit-test",
    training_state_machine_arn="arn:aws:states:us-east-1:111111111111:stateMachine:slipway-dev-training",
)


@dataclass
class _Version:
    version_id: str
    data: bytes
    content_type: str
    metadata: dict[str, str]


class FakeArtifactStore:
    """Versioned buckets in memory: every put adds a version; reads see the newest unless pinned."""

    def __init__(self, buckets: Sequence[str] = ()) -> None:
        self._buckets: dict[str, dict[str, list[_Version]]] = {b: {} for b in buckets}
        self._lock = threading.Lock()

    def create_bucket(self, name: str) -> None:
        self._buckets.setdefault(name, {})

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """For test assertions: the keys of a bucket under a prefix, sorted."""
        return sorted(k for k in self._bucket(bucket) if k.startswith(prefix))

    def _bucket(self, name: str) -> dict[str, list[_Version]]:
        if name not in self._buckets:
            raise NotFound(f"bucket {name} not found", {"code": "NoSuchBucket"})
        return self._buckets[name]

    def _version(self, obj: S3Object) -> _Version:
        versions = self._bucket(obj.bucket).get(obj.key)
        if not versions:
            raise NotFound(f"get {obj.uri}: not found", {"code": "NoSuchKey"})
        if obj.version_id is None:
            return versions[-1]
        for version in versions:
            if version.version_id == obj.version_id:
                return version
        raise NotFound(f"get {obj.uri}?versionId={obj.version_id}: not found", {"code": "NoSuchVersion"})

    def get_bytes(self, obj: S3Object) -> bytes:
        return self._version(obj).data

    def get_json(self, obj: S3Object) -> Any:
        return json.loads(self.get_bytes(obj))

    def download(self, obj: S3Object, path: Path) -> int:
        data = self.get_bytes(obj)
        path.write_bytes(data)
        return len(data)

    def put_bytes(
        self,
        obj: S3Object,
        data: bytes,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
    ) -> S3Object:
        version = _Version(uuid.uuid4().hex, bytes(data), content_type, dict(metadata or {}))
        with self._lock:
            self._bucket(obj.bucket).setdefault(obj.key, []).append(version)
        return S3Object(bucket=obj.bucket, key=obj.key, version_id=version.version_id)

    def put_json(self, obj: S3Object, value: Any) -> S3Object:
        return self.put_bytes(
            obj, json.dumps(value, indent=2, sort_keys=True, default=str).encode(), "application/json"
        )

    def exists(self, obj: S3Object) -> bool:
        try:
            self._version(obj)
        except NotFound:
            return False
        return True

    def copy(self, source: S3Object, target: S3Object, metadata: Mapping[str, str] | None = None) -> S3Object:
        found = self._version(source)
        kept = found.metadata if metadata is None else dict(metadata)
        return self.put_bytes(target, found.data, found.content_type, kept)

    def versions(self, obj: S3Object) -> list[str | None]:
        return [v.version_id for v in reversed(self._bucket(obj.bucket).get(obj.key, []))]

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        return self.keys(bucket, prefix)


class FakeMetadataTable:
    """The single table in memory: items stored as DynamoDB returns them (``as_stored``), queries in
    sort-key order, conditional writes and transactions atomic under one lock."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.RLock()

    def put_new(self, item: Mapping[str, Any]) -> bool:
        with self._lock:
            key = (item["PK"], item["SK"])
            if key in self.items:
                return False
            self.items[key] = as_stored(item)
            return True

    def put(self, item: Mapping[str, Any]) -> None:
        with self._lock:
            self.items[(item["PK"], item["SK"])] = as_stored(item)

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        found = self.items.get((pk, sk))
        return None if found is None else as_stored(found)

    def query(
        self,
        pk: str,
        sk_prefix: str = "",
        *,
        index: str | None = None,
        newest_first: bool = False,
        limit: int | None = None,
        start_after: Mapping[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        return list(
            self.iter_query(pk, sk_prefix, index=index, newest_first=newest_first, limit=limit, start_after=start_after)
        )

    def iter_query(
        self,
        pk: str,
        sk_prefix: str = "",
        *,
        index: str | None = None,
        newest_first: bool = False,
        limit: int | None = None,
        start_after: Mapping[str, str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        pk_name, sk_name = (f"{index}PK", f"{index}SK") if index else ("PK", "SK")
        with self._lock:
            matching = [
                i for i in self.items.values() if i.get(pk_name) == pk and str(i.get(sk_name, "")).startswith(sk_prefix)
            ]
        matching = [i for i in matching if sk_name in i]
        matching.sort(key=lambda i: (i[sk_name], i["PK"], i["SK"]), reverse=newest_first)
        if start_after:
            last = (start_after[sk_name], start_after["PK"], start_after["SK"])
            matching = [
                i
                for i in matching
                if ((i[sk_name], i["PK"], i["SK"]) < last if newest_first else (i[sk_name], i["PK"], i["SK"]) > last)
            ]
        for found in matching[:limit]:
            yield as_stored(found)

    def _check(self, pk: str, sk: str, expect: Mapping[str, Any] | None) -> None:
        current = self.items.get((pk, sk), {})
        for attribute, wanted in (expect or {}).items():
            present = attribute in current
            if (wanted is None and present) or (
                wanted is not None and (not present or current[attribute] != as_stored({"v": wanted})["v"])
            ):
                raise ConflictError("condition failed", {"code": "ConditionalCheckFailedException"})

    def delete(self, pk: str, sk: str, *, expect: Mapping[str, Any] | None = None) -> None:
        with self._lock:
            self._check(pk, sk, expect)
            self.items.pop((pk, sk), None)

    def update(
        self, pk: str, sk: str, values: Mapping[str, Any], *, expect: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        with self._lock:
            self._check(pk, sk, expect)
            current = self.items.get((pk, sk), {"PK": pk, "SK": sk})
            after = {k: v for k, v in current.items() if k not in values or values[k] is not None}
            after.update({k: v for k, v in values.items() if v is not None})
            self.items[(pk, sk)] = as_stored(after)
            return as_stored(self.items[(pk, sk)])

    def transact(
        self,
        puts: Sequence[Mapping[str, Any]],
        counter: Counter | None = None,
        updates: Sequence[ConditionalUpdate] = (),
        deletes: Sequence[ConditionalDelete] = (),
    ) -> bool:
        with self._lock:
            if any((i["PK"], i["SK"]) in self.items for i in puts):
                return False
            if counter is not None:
                found = self.items.get((counter.pk, counter.sk))
                if (counter.expected == 0) != (found is None):
                    return False
                if found is not None and found.get("value") != counter.expected:
                    return False
            for condition in [*updates, *deletes]:
                try:
                    self._check(condition.pk, condition.sk, condition.expect)
                except ConflictError:
                    return False
            for i in puts:
                self.items[(i["PK"], i["SK"])] = as_stored(i)
            if counter is not None:
                existing = self.items.get((counter.pk, counter.sk), {"PK": counter.pk, "SK": counter.sk})
                self.items[(counter.pk, counter.sk)] = {**existing, "value": counter.new}
            for update in updates:
                existing = self.items.get((update.pk, update.sk), {"PK": update.pk, "SK": update.sk})
                after = {k: v for k, v in existing.items() if update.values.get(k, True) is not None}
                after.update({k: v for k, v in update.values.items() if v is not None})
                self.items[(update.pk, update.sk)] = as_stored(after)
            for delete in deletes:
                self.items.pop((delete.pk, delete.sk), None)
            return True


@dataclass
class FakeEventBus:
    """Records what was published, in order."""

    published: list[dict[str, Any]] = field(default_factory=list)

    def put(self, source: str, detail_type: str, detail: Mapping[str, Any]) -> str:
        event_id = str(uuid.uuid4())
        self.published.append(
            {"id": event_id, "source": source, "detail-type": detail_type, "detail": json.loads(json.dumps(detail))}
        )
        return event_id


@dataclass
class FakeWorkflows:
    """Step Functions executions by name: a name is taken once (a second start is refused, as Step
    Functions refuses ExecutionAlreadyExists); ``executions`` maps each execution ARN to its input."""

    executions: dict[str, dict[str, Any]] = field(default_factory=dict)
    waiting: set[str] = field(default_factory=set)  # task tokens a test made wait for an answer
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def start(self, state_machine_arn: str, name: str, payload: Mapping[str, Any]) -> Started:
        arn = execution_arn(state_machine_arn, name)
        with self._lock:
            if arn in self.executions:
                return Started(arn, already_exists=True)
            self.executions[arn] = json.loads(json.dumps(payload))
        return Started(arn, already_exists=False)

    def succeed_task(self, token: str, output: Mapping[str, Any]) -> None:
        self._answer(token, {"output": json.loads(json.dumps(output))})

    def fail_task(self, token: str, error: str, cause: str) -> None:
        self._answer(token, {"error": error, "cause": cause})

    def _answer(self, token: str, answer: dict[str, Any]) -> None:
        """A token is answered once; one not in ``waiting`` (timed out, ended, answered) is refused."""
        with self._lock:
            if token not in self.waiting:
                raise ConflictError("the task no longer waits for an answer", {"code": "TaskTimedOut"})
            self.waiting.discard(token)
            self.answers[token] = answer


@dataclass
class FakeCaptureSink:
    """Keeps every record delivered, in order, as the stream would store it (JSON round trip)."""

    records: list[dict[str, Any]] = field(default_factory=list)

    def put(self, records: Sequence[Mapping[str, Any]]) -> None:
        self.records.extend(json.loads(json.dumps(r, allow_nan=False)) for r in records)


@dataclass
class FakeSchedules:
    """Each model's schedule expression, as the rule would hold it."""

    rules: dict[str, str] = field(default_factory=dict)

    def put(self, model: str, expression: str) -> str:
        self.rules[model] = expression
        return f"slipway-test-drift-{model}"

    def remove(self, model: str) -> None:
        self.rules.pop(model, None)

    def get(self, model: str) -> str | None:
        return self.rules.get(model)


class FakeOnlineStore:
    """The online feature store in memory: newest event time per key wins, under a lock as DynamoDB's conditions."""

    def __init__(self, records: dict[str, OnlineRecord] | None = None) -> None:
        self.records: dict[str, OnlineRecord] = dict(records or {})
        self.reads = 0  # read calls (a test counts the batched reads of a prediction)
        self._lock = threading.Lock()

    def read(self, keys: Sequence[str]) -> dict[str, OnlineRecord]:
        self.reads += 1
        with self._lock:
            return {k: self.records[k] for k in dict.fromkeys(keys) if k in self.records}

    def write_newer(self, records: Sequence[OnlineRecord]) -> int:
        written = 0
        with self._lock:
            for record in records:
                held = self.records.get(record.key)
                if held is None or held.event_us < record.event_us:
                    self.records[record.key] = record
                    written += 1
        return written


@dataclass
class ManualClock:
    """A clock that moves only forward, by ``step`` per reading (so timestamps are distinct) or by ``advance``."""

    current: datetime = field(default_factory=lambda: datetime(2026, 11, 25, 9, 0, tzinfo=UTC))
    step: timedelta = timedelta(milliseconds=1)

    def now(self) -> datetime:
        self.current += self.step
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


def fake_deps(settings: Settings = SETTINGS) -> Deps:
    """The four ports in memory, with the settings' buckets created."""
    store = FakeArtifactStore([settings.raw_bucket, settings.lake_bucket, settings.artifacts_bucket])
    return Deps(
        settings=settings,
        store=store,
        table=FakeMetadataTable(),
        events=FakeEventBus(),
        clock=ManualClock(),
        captures=FakeCaptureSink(),
        workflows=FakeWorkflows(),
        schedules=FakeSchedules(),
        online=FakeOnlineStore(),
    )


def fork(deps: Deps) -> Deps:
    """An independent copy of in-memory deps (objects, items, published events, clock): a test may damage
    its copy of a shared, expensive pipeline state without touching the original."""
    store, table, events, clock, workflows = deps.store, deps.table, deps.events, deps.clock, deps.workflows
    assert isinstance(store, FakeArtifactStore) and isinstance(table, FakeMetadataTable)
    assert isinstance(events, FakeEventBus) and isinstance(clock, ManualClock)
    assert isinstance(workflows, FakeWorkflows)
    store_copy = FakeArtifactStore()
    with store._lock:
        store_copy._buckets = copy.deepcopy(store._buckets)
    table_copy = FakeMetadataTable()
    with table._lock:
        table_copy.items = copy.deepcopy(table.items)
    return Deps(
        settings=deps.settings,
        store=store_copy,
        table=table_copy,
        events=FakeEventBus(copy.deepcopy(events.published)),
        clock=ManualClock(clock.current, clock.step),
        captures=FakeCaptureSink(copy.deepcopy(getattr(deps.captures, "records", []))),
        workflows=FakeWorkflows(copy.deepcopy(workflows.executions)),
        schedules=FakeSchedules(dict(getattr(deps.schedules, "rules", {}))),
        online=FakeOnlineStore(dict(getattr(deps.online, "records", {}))),
    )
