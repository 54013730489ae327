"""The manifest a model version travels with between accounts: its registry item, each artifact's key and
SHA-256, the spec it was trained under and its lineage, written by the source beside the artifacts. The
target reads it through the source bucket's narrow grant and trusts nothing it cannot check. Its bytes
depend only on the version (no export time), so exporting a version twice writes the same manifest."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field, ValidationError

from slipway.errors import ArtifactIntegrityError
from slipway.schema import Frozen, field_errors

__all__ = ["FORMAT", "ManifestArtifact", "VersionManifest"]

FORMAT: Literal["slipway.version-manifest/1"] = "slipway.version-manifest/1"
# Registry attributes that belong to the environment's table, not to the version: never carried across.
LOCAL_ATTRIBUTES = frozenset({"PK", "SK", "GSI1PK", "GSI1SK", "model", "version", "run_id", "registered_at"})


class ManifestArtifact(Frozen):
    key: str = Field(min_length=1)  # the same key in every environment's artifacts bucket
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class VersionManifest(Frozen):
    format: Literal["slipway.version-manifest/1"] = FORMAT
    model: str
    version: int
    env: str
    account: str
    run_id: str  # the registry's run marker of the version in its environment
    item: dict[str, Any]  # the version's registry attributes, without the environment's keys
    artifacts: dict[str, ManifestArtifact]
    spec_version: str
    spec_yaml: str
    lineage: list[dict[str, str]]  # upstream edges of the version: {"upstream", "downstream", "kind"}

    def to_bytes(self) -> bytes:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, indent=1).encode()

    @classmethod
    def from_bytes(cls, data: bytes, where: str) -> VersionManifest:
        try:
            return cls.model_validate(json.loads(data))
        except (ValueError, ValidationError) as e:
            errors = field_errors(e) if isinstance(e, ValidationError) else [{"field": "(json)", "message": str(e)}]
            raise ArtifactIntegrityError(f"{where} is not a version manifest", {"errors": errors}) from e
