"""Register a promoted version in this environment: the next version number here (one per source version,
however often it is promoted), the source's registry attributes with the copied artifacts, where it came from
(environment, account, version, run, manifest SHA-256, who asked), the spec it was trained under and its
lineage back to the upload; then what the spec's deployment section asks of this promotion."""

from __future__ import annotations

from typing import Any, cast

from slipway import layout
from slipway.contracts.promotion import PromotedVersion, RegisterPromotedRequest
from slipway.domain.lineage import Edge, EdgeKind, in_environment, model_node
from slipway.errors import ArtifactIntegrityError
from slipway.manifest import VersionManifest
from slipway.objects import S3Object
from slipway.ports import Deps
from slipway.spec import ModelSpec, dump_spec_yaml, load_spec, spec_version
from slipway.stores.promotions import deployment_plan, record
from slipway.stores.registry import ModelRegistry


def register_promoted(deps: Deps, request: RegisterPromotedRequest) -> PromotedVersion:
    promotion, exported, copied = request.promotion, request.exported, request.copied
    located = S3Object.parse(copied.manifest_uri, copied.manifest_version_id)
    manifest = VersionManifest.from_bytes(deps.store.get_bytes(located), located.uri)
    spec = _store_spec(deps, manifest)
    registry = ModelRegistry.of(deps)
    source = {
        "env": manifest.env,
        "account": manifest.account,
        "version": manifest.version,
        "run_id": manifest.run_id,
        "manifest_sha256": exported.manifest_sha256,
        "promotion": promotion.id,
        "requested_by": promotion.requested_by,
    }
    fields: dict[str, Any] = {
        **manifest.item,
        "artifacts": copied.artifacts,
        "promoted_from": source,
        "training_run_id": manifest.item.get("training_run_id", manifest.run_id),
    }
    registered = registry.register(manifest.model, layout.promoted_run_id(manifest.env, manifest.version), fields)
    version, created = int(registered[0]), bool(registered[1])

    now = deps.now_iso()
    edges = [
        Edge(in_environment(e["upstream"], manifest.env), in_environment(e["downstream"], manifest.env), _kind(e))
        for e in manifest.lineage
    ]
    source_node = in_environment(model_node(manifest.model, manifest.version), manifest.env)
    edges.append(Edge(source_node, model_node(manifest.model, version), "promoted_as"))
    for edge in edges:
        for item in edge.items(now):
            deps.table.put_new(item)

    champion = registry.alias(manifest.model, "production")
    record(
        deps, promotion.id, step="Register", target_version=version, champion=champion, source_version=manifest.version
    )
    return deployment_plan(deps, spec, manifest.model, version, champion, new=created)


def _kind(edge: dict[str, str]) -> EdgeKind:
    return cast(EdgeKind, edge["kind"])


def _store_spec(deps: Deps, manifest: VersionManifest) -> ModelSpec:
    """The version's spec, stored here as ``spec push`` stores it (its file and version item); it becomes the
    model's current spec only in an environment that has none."""
    spec = load_spec(manifest.spec_yaml)
    version = spec_version(spec)
    if version != manifest.spec_version:
        raise ArtifactIntegrityError(
            f"the manifest's spec hashes to {version[:12]}…, not {manifest.spec_version[:12]}…",
            {"expected": manifest.spec_version, "actual": version},
        )
    stored = layout.spec_object(deps.settings.artifacts_bucket, spec.name, version)
    if not deps.store.exists(stored):
        deps.store.put_bytes(stored, dump_spec_yaml(spec).encode(), "application/yaml")
    now = deps.now_iso()
    fields = {"model": spec.name, "version": version, "uri": stored.uri}
    deps.table.put_new(layout.item(layout.spec_version_key(spec.name, version), **fields, pushed_at=now))
    first = deps.table.put_new(layout.item(layout.spec_pointer_key(spec.name), **fields, updated_at=now))
    if first and spec.monitoring is not None:  # the model's first spec here: its drift checks start with it
        deps.schedules.put(spec.name, spec.monitoring.schedule)
    return spec
