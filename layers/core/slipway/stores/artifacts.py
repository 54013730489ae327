"""Parquet tables and verified artifacts over the ArtifactStore port: a model is loaded only after
its bytes hash to the SHA-256 the registry recorded."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from slipway.domain.digest import sha256_hex, verify_sha256
from slipway.objects import S3Object
from slipway.ports import ArtifactStore

PARQUET = "application/vnd.apache.parquet"


def read_parquet(store: ArtifactStore, obj: S3Object) -> pa.Table:
    return pq.read_table(io.BytesIO(store.get_bytes(obj)))


def parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def write_parquet(store: ArtifactStore, obj: S3Object, table: pa.Table) -> S3Object:
    return store.put_bytes(obj, parquet_bytes(table), PARQUET)


def _pinned(store: ArtifactStore, obj: S3Object) -> S3Object:
    newest = store.versions(obj)
    return S3Object(bucket=obj.bucket, key=obj.key, version_id=newest[0] if newest else None)


def put_if_absent(
    store: ArtifactStore,
    obj: S3Object,
    body: bytes | Callable[[], bytes],
    content_type: str = "application/octet-stream",
) -> S3Object:
    """Write a content-addressed object once: a retried or concurrent step finds it and writes no second
    version. ``body`` may be a function, called only when the object is missing."""
    if store.exists(obj):
        return _pinned(store, obj)
    return store.put_bytes(obj, body() if callable(body) else body, content_type)


def put_unless_identical(
    store: ArtifactStore, obj: S3Object, body: bytes, content_type: str = "application/octet-stream"
) -> S3Object:
    """Write ``body`` unless the object already holds exactly these bytes (a retried step): no second version
    of the same content, while different bytes (whose SHA-256 the caller records) are written."""
    if store.exists(obj) and sha256_hex(store.get_bytes(obj)) == sha256_hex(body):
        return _pinned(store, obj)
    return store.put_bytes(obj, body, content_type)


def verified_bytes(store: ArtifactStore, uri: str, sha256: str) -> bytes:
    """An artifact's bytes, refused unless they hash to the value the registry recorded."""
    return verify_sha256(store.get_bytes(S3Object.parse(uri)), sha256, uri)


def load_verified_model(store: ArtifactStore, artifact: dict[str, str]) -> Any:
    """A model from its registry record ``{"uri", "sha256"}``: hash checked, skops types allow-listed."""
    from slipway.domain.artifacts_codec import load_model

    return load_model(verified_bytes(store, artifact["uri"], artifact["sha256"]))
