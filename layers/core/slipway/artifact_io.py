"""Parquet tables and verified artifacts over the ArtifactStore port: a model is loaded only after
its bytes hash to the SHA-256 the registry recorded."""

from __future__ import annotations

import io
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from slipway.domain.digest import verify_sha256
from slipway.objects import S3Object
from slipway.ports import ArtifactStore

PARQUET = "application/vnd.apache.parquet"


def read_parquet(store: ArtifactStore, obj: S3Object) -> pa.Table:
    return pq.read_table(io.BytesIO(store.get_bytes(obj)))


def write_parquet(store: ArtifactStore, obj: S3Object, table: pa.Table) -> S3Object:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return store.put_bytes(obj, buffer.getvalue(), PARQUET)


def verified_bytes(store: ArtifactStore, uri: str, sha256: str) -> bytes:
    """An artifact's bytes, refused unless they hash to the value the registry recorded."""
    return verify_sha256(store.get_bytes(S3Object.parse(uri)), sha256, uri)


def load_verified_model(store: ArtifactStore, artifact: dict[str, str]) -> Any:
    """A model from its registry record ``{"uri", "sha256"}``: hash checked, skops types allow-listed."""
    from slipway.domain.artifacts_codec import load_model

    return load_model(verified_bytes(store, artifact["uri"], artifact["sha256"]))
