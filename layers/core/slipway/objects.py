"""An S3 object: bucket, key and, once written or when pinned, its version. The one type for
uploads (the raw object a run was started by) and artifacts alike."""

from __future__ import annotations

from slipway.schema import Frozen

__all__ = ["S3Object"]


class S3Object(Frozen):
    bucket: str
    key: str
    version_id: str | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @classmethod
    def parse(cls, uri: str, version_id: str | None = None) -> S3Object:
        """``s3://bucket/key`` → S3Object; ValueError for anything else."""
        if not uri.startswith("s3://") or "/" not in uri[5:] or uri[5:].startswith("/"):
            raise ValueError(f"not an s3:// URI: {uri!r}")
        bucket, key = uri[5:].split("/", 1)
        if not key:
            raise ValueError(f"not an s3:// object URI (no key): {uri!r}")
        return cls(bucket=bucket, key=key, version_id=version_id)

    def at(self, key: str) -> S3Object:
        """Another object in the same bucket."""
        return S3Object(bucket=self.bucket, key=key)
