"""S3 artifact store: bytes and JSON under keys the domain derives; never deletes or rewrites
raw objects. Errors become NotFound / TransientError."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from slipway.adapters.clients import error_code, raise_transient
from slipway.errors import NotFound

_MISSING = frozenset({"NoSuchKey", "404", "NoSuchVersion", "NoSuchBucket", "NotFound"})


@dataclass(frozen=True)
class S3Ref:
    bucket: str
    key: str
    version_id: str | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @classmethod
    def parse(cls, uri: str) -> S3Ref:
        if not uri.startswith("s3://") or "/" not in uri[5:]:
            raise ValueError(f"not an s3:// URI: {uri!r}")
        bucket, key = uri[5:].split("/", 1)
        return cls(bucket, key)


class ArtifactStore:
    def __init__(self, s3_client: Any) -> None:
        self._s3 = s3_client

    def _call(self, what: str, fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except ClientError as e:
            if error_code(e) in _MISSING:
                raise NotFound(f"{what}: s3://{kwargs.get('Bucket')}/{kwargs.get('Key', '')} not found") from e
            raise_transient(e, what)
            raise
        except BotoCoreError as e:
            raise_transient(e, what)
            raise

    def get_bytes(self, ref: S3Ref) -> bytes:
        kwargs: dict[str, Any] = {"Bucket": ref.bucket, "Key": ref.key}
        if ref.version_id:
            kwargs["VersionId"] = ref.version_id
        response = self._call("get object", self._s3.get_object, **kwargs)
        try:
            return response["Body"].read()  # type: ignore[no-any-return]
        except BotoCoreError as e:
            raise_transient(e, "read object body")
            raise

    def get_json(self, ref: S3Ref) -> Any:
        return json.loads(self.get_bytes(ref))

    def put_bytes(
        self,
        ref: S3Ref,
        data: bytes,
        content_type: str = "application/octet-stream",
        metadata: dict[str, str] | None = None,
    ) -> S3Ref:
        response = self._call(
            "put object",
            self._s3.put_object,
            Bucket=ref.bucket,
            Key=ref.key,
            Body=data,
            ContentType=content_type,
            Metadata=metadata or {},
        )
        return S3Ref(ref.bucket, ref.key, response.get("VersionId"))

    def put_json(self, ref: S3Ref, value: Any) -> S3Ref:
        body = json.dumps(value, indent=2, sort_keys=True, default=str).encode()
        return self.put_bytes(ref, body, "application/json")

    def exists(self, ref: S3Ref) -> bool:
        try:
            self._call("head object", self._s3.head_object, Bucket=ref.bucket, Key=ref.key)
        except NotFound:
            return False
        return True

    def copy(self, source: S3Ref, target: S3Ref, metadata: dict[str, str] | None = None) -> S3Ref:
        copy_source: dict[str, str] = {"Bucket": source.bucket, "Key": source.key}
        if source.version_id:
            copy_source["VersionId"] = source.version_id
        kwargs: dict[str, Any] = {"Bucket": target.bucket, "Key": target.key, "CopySource": copy_source}
        if metadata is not None:
            kwargs.update(Metadata=metadata, MetadataDirective="REPLACE")
        response = self._call("copy object", self._s3.copy_object, **kwargs)
        return S3Ref(target.bucket, target.key, response.get("VersionId"))

    def versions(self, bucket: str, key: str) -> list[str | None]:
        """Version ids of one key, newest first (None for an object written before versioning)."""
        found: list[str | None] = []
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": key}
        while True:
            page = self._call("list object versions", self._s3.list_object_versions, **kwargs)
            for version in page.get("Versions", []):
                if version["Key"] == key:
                    found.append(None if version.get("VersionId") in (None, "null") else version["VersionId"])
            if not page.get("IsTruncated"):
                return found
            kwargs.update(KeyMarker=page["NextKeyMarker"], VersionIdMarker=page["NextVersionIdMarker"])
