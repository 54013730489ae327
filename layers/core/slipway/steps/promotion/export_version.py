"""The one promotion step that runs in the source environment's account (invoked across accounts by the
target's machine): resolve ``MODEL@VERSION`` or ``MODEL@ALIAS`` in this registry, check every artifact
against its recorded SHA-256, and write the version's manifest beside its artifacts, where the target's
promotion role may read it."""

from __future__ import annotations

from slipway import layout
from slipway.contracts.promotion import ExportedVersion, ExportRequest
from slipway.domain.digest import sha256_hex, verify_sha256
from slipway.domain.lineage import model_node
from slipway.errors import ArtifactIntegrityError, NotFound
from slipway.manifest import LOCAL_ATTRIBUTES, ManifestArtifact, VersionManifest
from slipway.objects import S3Object
from slipway.ports import Deps
from slipway.stores.lineage import upstream_edges
from slipway.stores.registry import ModelRegistry


def export_version(deps: Deps, request: ExportRequest, account: str) -> ExportedVersion:
    promotion = request.promotion
    item = ModelRegistry.of(deps).resolve(promotion.ref)
    model, version = str(item["model"]), int(item["version"])
    recorded = item.get("artifacts", {})
    if layout.MODEL_ONNX not in recorded:
        reason = item.get("onnx", {}).get("error", "no ONNX export")
        raise NotFound(
            f"{model}@{version} has no ONNX artifact to serve ({reason}); it cannot be promoted",
            {"model": model, "version": version},
        )
    grant = layout.models_prefix(model)
    artifacts: dict[str, ManifestArtifact] = {}
    for name, artifact in sorted(recorded.items()):
        obj = S3Object.parse(str(artifact["uri"]))
        if obj.bucket != deps.settings.artifacts_bucket or not obj.key.startswith(grant):
            raise ArtifactIntegrityError(
                f"{model}@{version}: artifact {name} lives at {obj.uri}, outside {grant} of this environment's bucket",
                {"model": model, "version": version, "artifact": name},
            )
        verify_sha256(deps.store.get_bytes(obj), str(artifact["sha256"]), obj.uri)
        artifacts[name] = ManifestArtifact(key=obj.key, sha256=str(artifact["sha256"]))

    spec_version = str(item["spec_version"])
    spec_text = deps.store.get_bytes(layout.spec_object(deps.settings.artifacts_bucket, model, spec_version))
    manifest = VersionManifest(
        model=model,
        version=version,
        env=deps.settings.env,
        account=account,
        run_id=str(item["run_id"]),
        item={k: v for k, v in item.items() if k not in LOCAL_ATTRIBUTES},
        artifacts=artifacts,
        spec_version=spec_version,
        spec_yaml=spec_text.decode(),
        lineage=upstream_edges(deps, model_node(model, version)),
    )
    data = manifest.to_bytes()
    onnx = S3Object.parse(str(recorded[layout.MODEL_ONNX]["uri"]))
    written = deps.store.put_bytes(layout.version_manifest(onnx), data, "application/json")
    return ExportedVersion(
        model=model,
        version=version,
        env=deps.settings.env,
        account=account,
        manifest_uri=written.uri,
        manifest_version_id=written.version_id,
        manifest_sha256=sha256_hex(data),
    )
