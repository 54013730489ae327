"""S3 artifact store (the ArtifactStore port): bytes and JSON under keys from ``slipway.layout``;
never deletes or rewrites raw objects. Errors become NotFound / TransientError."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from slipway.adapters.clients import aws_errors
from slipway.errors import NotFound
from slipway.objects import S3Object

DOWNLOAD_CHUNK = 8 * 1024 * 1024  # bytes read from S3 at a time by download
_MISSING = frozenset({"NoSuchKey", "404", "NoSuchVersion", "NoSuchBucket", "NotFound"})


def _where(obj: S3Object) -> str:
    return obj.uri + (f"?versionId={obj.version_id}" if obj.version_id else "")


class S3ArtifactStore:
    def __init__(self, s3_client: Any) -> None:
        self._s3 = s3_client

    def get_bytes(self, obj: S3Object) -> bytes:
        kwargs: dict[str, Any] = {"Bucket": obj.bucket, "Key": obj.key}
        if obj.version_id:
            kwargs["VersionId"] = obj.version_id
        with aws_errors(f"get {_where(obj)}", missing=_MISSING):
            return bytes(self._s3.get_object(**kwargs)["Body"].read())

    def get_json(self, obj: S3Object) -> Any:
        return json.loads(self.get_bytes(obj))

    def download(self, obj: S3Object, path: Path) -> int:
        kwargs: dict[str, Any] = {"Bucket": obj.bucket, "Key": obj.key}
        if obj.version_id:
            kwargs["VersionId"] = obj.version_id
        size = 0
        with aws_errors(f"get {_where(obj)}", missing=_MISSING), path.open("wb") as out:
            for chunk in self._s3.get_object(**kwargs)["Body"].iter_chunks(DOWNLOAD_CHUNK):
                out.write(chunk)
                size += len(chunk)
        return size

    def put_bytes(
        self,
        obj: S3Object,
        data: bytes,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
    ) -> S3Object:
        with aws_errors(f"put {obj.uri}", missing=_MISSING):
            response = self._s3.put_object(
                Bucket=obj.bucket, Key=obj.key, Body=data, ContentType=content_type, Metadata=dict(metadata or {})
            )
        return S3Object(bucket=obj.bucket, key=obj.key, version_id=response.get("VersionId"))

    def put_json(self, obj: S3Object, value: Any) -> S3Object:
        body = json.dumps(value, indent=2, sort_keys=True, default=str).encode()
        return self.put_bytes(obj, body, "application/json")

    def exists(self, obj: S3Object) -> bool:
        kwargs: dict[str, Any] = {"Bucket": obj.bucket, "Key": obj.key}
        if obj.version_id:
            kwargs["VersionId"] = obj.version_id
        try:
            with aws_errors(f"head {_where(obj)}", missing=_MISSING):
                self._s3.head_object(**kwargs)
        except NotFound:
            return False
        return True

    def copy(self, source: S3Object, target: S3Object, metadata: Mapping[str, str] | None = None) -> S3Object:
        copy_source: dict[str, str] = {"Bucket": source.bucket, "Key": source.key}
        if source.version_id:
            copy_source["VersionId"] = source.version_id
        kwargs: dict[str, Any] = {"Bucket": target.bucket, "Key": target.key, "CopySource": copy_source}
        if metadata is not None:
            kwargs.update(Metadata=dict(metadata), MetadataDirective="REPLACE")
        with aws_errors(f"copy {_where(source)} to {target.uri}", missing=_MISSING):
            response = self._s3.copy_object(**kwargs)
        return S3Object(bucket=target.bucket, key=target.key, version_id=response.get("VersionId"))

    def versions(self, obj: S3Object) -> list[str | None]:
        found: list[str | None] = []
        kwargs: dict[str, Any] = {"Bucket": obj.bucket, "Prefix": obj.key}
        while True:
            with aws_errors(f"list versions of {obj.uri}", missing=_MISSING):
                page = self._s3.list_object_versions(**kwargs)
            for version in page.get("Versions", []):
                if version["Key"] == obj.key:
                    found.append(None if version.get("VersionId") in (None, "null") else version["VersionId"])
            if not page.get("IsTruncated"):
                return found
            kwargs.update(KeyMarker=page["NextKeyMarker"], VersionIdMarker=page["NextVersionIdMarker"])

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        keys: list[str] = []
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        while True:
            with aws_errors(f"list s3://{bucket}/{prefix}", missing=_MISSING):
                page = self._s3.list_objects_v2(**kwargs)
            keys += [o["Key"] for o in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return sorted(keys)
            kwargs["ContinuationToken"] = page["NextContinuationToken"]
