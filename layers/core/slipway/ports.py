"""What the steps need from the outside world, as Protocols, and the typed dependencies object
steps receive. The AWS adapters implement these; so do the in-memory fakes the unit tests use,
and one contract-test suite keeps the two honest."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from slipway.objects import S3Object
from slipway.settings import Settings

__all__ = [
    "ArtifactStore",
    "CaptureSink",
    "Clock",
    "ConditionalUpdate",
    "Counter",
    "Deps",
    "EventBus",
    "MetadataTable",
    "OnlineRecord",
    "OnlineStore",
    "Schedules",
    "Started",
    "Workflows",
]


class ArtifactStore(Protocol):
    """Objects in the environment's buckets. Missing → NotFound; retryable failures → TransientError."""

    def get_bytes(self, obj: S3Object) -> bytes: ...

    def get_json(self, obj: S3Object) -> Any: ...

    def download(self, obj: S3Object, path: Path) -> int:
        """Write the object to a local file a part at a time (memory holds a part, never the object); its size."""
        ...

    def put_bytes(
        self,
        obj: S3Object,
        data: bytes,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
    ) -> S3Object:
        """Write; returns the object pinned to the version written (None where unversioned)."""
        ...

    def put_json(self, obj: S3Object, value: Any) -> S3Object: ...

    def exists(self, obj: S3Object) -> bool: ...

    def copy(self, source: S3Object, target: S3Object, metadata: Mapping[str, str] | None = None) -> S3Object: ...

    def versions(self, obj: S3Object) -> list[str | None]:
        """Version ids of one key, newest first (None for an object written before versioning)."""
        ...

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        """The keys under a prefix (every page), sorted; none for an empty prefix."""
        ...


@dataclass(frozen=True)
class Counter:
    """An atomic counter item moved from ``expected`` (0: absent) to ``new`` inside a transaction."""

    pk: str
    sk: str
    expected: int
    new: int


@dataclass(frozen=True)
class ConditionalUpdate:
    """Inside a transaction: set ``values`` on an item (created if absent; a None value removes the
    attribute) only if each attribute in ``expect`` holds the given value (None: must be absent)."""

    pk: str
    sk: str
    values: Mapping[str, Any]
    expect: Mapping[str, Any]


@dataclass(frozen=True)
class ConditionalDelete:
    """Inside a transaction: remove an item only if each attribute in ``expect`` holds the given value (None: must
    be absent)."""

    pk: str
    sk: str
    expect: Mapping[str, Any]


class MetadataTable(Protocol):
    """The single table: items are dicts with PK/SK (and GSI1PK/GSI1SK where listed). Attributes
    that are None are not stored; numbers come back as int when integral."""

    def put_new(self, item: Mapping[str, Any]) -> bool:
        """Write only if the key is free; False if it already existed."""
        ...

    def put(self, item: Mapping[str, Any]) -> None: ...

    def get(self, pk: str, sk: str) -> dict[str, Any] | None: ...

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
        """Items of ``pk`` (on ``index``) whose sort key starts with ``sk_prefix``, in sort-key order; ``start_after``:
        the key (``layout.page_key``) of the last item of the page before, to read the next page."""
        ...

    def iter_query(
        self,
        pk: str,
        sk_prefix: str = "",
        *,
        index: str | None = None,
        newest_first: bool = False,
        limit: int | None = None,
        start_after: Mapping[str, str] | None = None,
    ) -> Iterator[dict[str, Any]]: ...

    def update(
        self, pk: str, sk: str, values: Mapping[str, Any], *, expect: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Set attributes (None removes one) and return the item after it. ``expect`` maps attribute →
        the value it must hold (None: must be absent); otherwise ConflictError and nothing changes."""
        ...

    def delete(self, pk: str, sk: str, *, expect: Mapping[str, Any] | None = None) -> None:
        """Remove an item (absent: nothing happens); ``expect`` as in ``update``."""
        ...

    def transact(
        self,
        puts: Sequence[Mapping[str, Any]],
        counter: Counter | None = None,
        updates: Sequence[ConditionalUpdate] = (),
        deletes: Sequence[ConditionalDelete] = (),
    ) -> bool:
        """Atomically write new items (each only if its key is free), move a counter, apply conditional updates
        and deletes; False when any condition failed (then nothing was written)."""
        ...


@dataclass(frozen=True)
class OnlineRecord:
    """One entity's newest values in a view, as the online store keeps them."""

    key: str  # layout.online_key(view, entity_text)
    event_us: int  # the values' event time, microseconds since 1970-01-01 UTC: a newer one replaces it
    values: str  # JSON object feature → value, as a request would send it (floats round-trip exactly)
    version: int  # the view version that wrote it
    expires_at: int  # epoch seconds after which the value is no longer served (event time + TTL)


class OnlineStore(Protocol):
    """The online feature store (its own DynamoDB table): each entity's newest values per feature view."""

    def read(self, keys: Sequence[str]) -> dict[str, OnlineRecord]:
        """The records of these keys that exist (any number of keys: batched as the store requires)."""
        ...

    def write_newer(self, records: Sequence[OnlineRecord]) -> int:
        """Write each record unless the store holds one for its key with the same or a newer event time (a replay
        changes nothing, an older upload never overwrites a newer one, also when two writers race). Returns how
        many were written."""
        ...


class EventBus(Protocol):
    """Domain events (EventBridge): ``source`` like ``slipway.promotion``, a detail type, a JSON detail."""

    def put(self, source: str, detail_type: str, detail: Mapping[str, Any]) -> str:
        """Publish one event; returns its id. A rejected event raises (TransientError when retryable)."""
        ...


@dataclass(frozen=True)
class Started:
    """The execution a start names. ``already_exists`` when Step Functions refused the name
    (ExecutionAlreadyExists: a duplicate event for a run that exists). A repeated start with the same
    input while that execution still runs is answered by AWS with the running execution itself, so it
    reports ``already_exists`` False: either way there is one execution of that name."""

    execution_arn: str
    already_exists: bool


class Workflows(Protocol):
    """Step Functions: start a state machine execution under a name of our choosing; answer a task that
    waits for a person (``.waitForTaskToken``)."""

    def start(self, state_machine_arn: str, name: str, payload: Mapping[str, Any]) -> Started:
        """Start ``name``; an execution of that name that already exists is a success, not an error."""
        ...

    def succeed_task(self, token: str, output: Mapping[str, Any]) -> None:
        """The waiting task goes on with ``output``; ConflictError when it no longer waits (timed out, ended)."""
        ...

    def fail_task(self, token: str, error: str, cause: str) -> None:
        """The waiting task fails with ``error``; ConflictError when it no longer waits."""
        ...


class Schedules(Protocol):
    """Per-model schedules (EventBridge rules with a schedule expression) that start the drift machine with
    ``{"model": …, "window": null}``."""

    def put(self, model: str, expression: str) -> str:
        """Create or change the model's schedule (enabled); returns the rule's name."""
        ...

    def remove(self, model: str) -> None:
        """Delete the model's schedule (absent: nothing happens)."""
        ...

    def get(self, model: str) -> str | None:
        """The model's schedule expression, None when it has none."""
        ...


class CaptureSink(Protocol):
    """Where predictions and feedback go (a Firehose delivery stream): JSON records, each with ``kind``
    ("captures" or "feedback") and ``model``, which partition them in the lake."""

    def put(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Deliver records in order; any number (batched as the stream requires). Raises when any is refused."""
        ...


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


@dataclass(frozen=True)
class Deps:
    """Everything a step may touch: its settings and the ports."""

    settings: Settings
    store: ArtifactStore
    table: MetadataTable
    events: EventBus
    clock: Clock
    captures: CaptureSink
    workflows: Workflows
    schedules: Schedules
    online: OnlineStore

    def now_iso(self) -> str:
        return self.clock.now().isoformat()
