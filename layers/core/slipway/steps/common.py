"""Reads shared by the science steps: the spec a dataset was validated with, the curated table,
and models loaded only after their SHA-256 matches the one recorded."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from slipway.adapters.artifacts import S3Ref
from slipway.composition import Container
from slipway.errors import ArtifactIntegrityError, SpecError
from slipway.spec import ModelSpec
from slipway.steps.specs import spec_at


def model_spec(c: Container, model: str, version: str) -> ModelSpec:
    spec = spec_at(c, model, version)
    if spec.features is None or spec.training is None:
        raise SpecError(f"spec {model}@{version[:12]} has no features/training sections", {"model": model})
    return spec


def read_parquet(c: Container, uri: str) -> pa.Table:
    return pq.read_table(io.BytesIO(c.store.get_bytes(S3Ref.parse(uri))))


def write_parquet(c: Container, ref: S3Ref, table: pa.Table) -> S3Ref:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return c.store.put_bytes(ref, buffer.getvalue(), "application/vnd.apache.parquet")


def verified_bytes(c: Container, uri: str, sha256: str) -> bytes:
    """An artifact's bytes, refused unless they hash to the value the registry recorded."""
    data = c.store.get_bytes(S3Ref.parse(uri))
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise ArtifactIntegrityError(
            f"{uri} has SHA-256 {actual[:12]}…, the registry recorded {sha256[:12]}…", {"uri": uri}
        )
    return data


def load_verified_model(c: Container, uri: str, sha256: str) -> Any:
    from slipway.domain.artifacts_codec import load_model

    return load_model(verified_bytes(c, uri, sha256))
