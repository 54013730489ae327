"""Copy a version's artifacts from the source environment's bucket into this one's, as the promotion role
(the only principal the source's bucket policy lets read ``models/``): the manifest checked against the
SHA-256 the source returned, each artifact against the SHA-256 in the manifest once it is here."""

from __future__ import annotations

from slipway import layout
from slipway.contracts.promotion import CopiedVersion, CopyRequest
from slipway.domain.digest import sha256_hex, verify_sha256
from slipway.errors import ArtifactIntegrityError, InvalidEvent
from slipway.manifest import VersionManifest
from slipway.objects import S3Object
from slipway.ports import Deps
from slipway.stores.promotions import record


def copy_artifacts(deps: Deps, request: CopyRequest) -> CopiedVersion:
    promotion, exported = request.promotion, request.exported
    source_bucket, own = deps.settings.promotion_source_bucket, deps.settings.artifacts_bucket
    located = S3Object.parse(exported.manifest_uri, exported.manifest_version_id)
    if exported.env != promotion.source_env or located.bucket != source_bucket:
        raise InvalidEvent(
            f"the manifest {located.uri} is not in {promotion.source_env}'s artifacts bucket ({source_bucket})",
            {"errors": [{"field": "exported.manifest_uri", "message": f"expected s3://{source_bucket}/…"}]},
        )
    data = verify_sha256(deps.store.get_bytes(located), exported.manifest_sha256, located.uri)
    manifest = VersionManifest.from_bytes(data, located.uri)
    if layout.MODEL_ONNX not in manifest.artifacts:
        raise ArtifactIntegrityError(f"{located.uri} lists no ONNX artifact to serve", {"manifest": located.uri})
    if (manifest.model, manifest.version, manifest.env) != (promotion.model, exported.version, promotion.source_env):
        raise ArtifactIntegrityError(
            f"{located.uri} describes {manifest.env} {manifest.model}@{manifest.version}, "
            f"not {promotion.source_env} {promotion.model}@{exported.version}",
            {"manifest": located.uri},
        )
    grant = layout.models_prefix(promotion.model)
    copied: dict[str, dict[str, str]] = {}
    for name, artifact in sorted(manifest.artifacts.items()):
        if not artifact.key.startswith(grant):
            raise ArtifactIntegrityError(f"artifact {name} at {artifact.key} is outside {grant}", {"artifact": name})
        source = S3Object(bucket=str(source_bucket), key=artifact.key)
        target = S3Object(bucket=own, key=artifact.key)
        if not (deps.store.exists(target) and sha256_hex(deps.store.get_bytes(target)) == artifact.sha256):
            deps.store.copy(source, target)
            verify_sha256(deps.store.get_bytes(target), artifact.sha256, f"{target.uri} (copied from {source.uri})")
        copied[name] = {"uri": target.uri, "sha256": artifact.sha256}
    onnx = S3Object(bucket=own, key=manifest.artifacts[layout.MODEL_ONNX].key)
    received = deps.store.put_bytes(layout.received_manifest(onnx, promotion.source_env), data, "application/json")
    record(deps, promotion.id, step="Copy", source_version=manifest.version, source_account=manifest.account)
    return CopiedVersion(manifest_uri=received.uri, manifest_version_id=received.version_id, artifacts=copied)
