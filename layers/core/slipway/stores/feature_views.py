"""Feature views in an environment: their specs (pushed to the artifacts bucket, versioned by content hash, a current
pointer per view), their versions (one per materialised upload, numbered by an atomic counter) and their offline
history (Parquet in the lake, partitioned by event date)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from slipway import layout
from slipway.errors import ConflictError, NotFound, SpecError
from slipway.ports import Counter, Deps
from slipway.stores.specs import record_push

if TYPE_CHECKING:
    import pyarrow as pa

    from slipway.spec.feature_view import FeatureViewSpec

MAX_CLAIM_ATTEMPTS = 20


def push_view(deps: Deps, source: str | bytes, *, reason: str = "") -> dict[str, Any]:
    """Validate and store a view spec; make it the view's current one (same text twice: one version). Audited
    under ``view:<name>`` with the caller and ``reason``."""
    from slipway.spec.feature_view import dump_view_yaml, load_view, view_version

    view = load_view(source)
    version = view_version(view)
    pushed = record_push(
        deps,
        layout.view_spec_object(deps.settings.artifacts_bucket, view.name, version),
        lambda: dump_view_yaml(view),
        version_key=layout.view_spec_version_key(view.name, version),
        pointer_key=layout.view_spec_pointer_key(view.name),
        fields={"view": view.name, "version": version},
        audited_as=audit_subject(view.name),
        reason=reason,
    )
    listing = {
        "view": view.name,
        "spec_version": version,
        "description": view.description,
        "entity": list(view.entity),
        "features": [f.name for f in view.features],
        "ttl_s": view.ttl_seconds,
        "updated_at": deps.now_iso(),
    }
    deps.table.put(layout.item(layout.view_listing_key(view.name), **listing))
    return pushed


def audit_subject(view: str) -> str:
    """The name a view's audit entries are kept under, apart from any model's."""
    return f"view:{view}"


def current_view(deps: Deps, view: str) -> tuple[FeatureViewSpec, str]:
    pointer = deps.table.get(*layout.view_spec_pointer_key(view))
    if pointer is None:
        raise SpecError(f"no feature view {view!r} pushed in this environment", {"view": view})
    return view_at(deps, view, str(pointer["version"])), str(pointer["version"])


def view_at(deps: Deps, view: str, version: str) -> FeatureViewSpec:
    from slipway.spec.feature_view import load_view

    try:
        return load_view(deps.store.get_bytes(layout.view_spec_object(deps.settings.artifacts_bucket, view, version)))
    except NotFound as e:
        raise SpecError(
            f"feature view {view}@{version[:12]} is recorded but its file is missing", {"view": view}
        ) from e


def list_views(deps: Deps) -> list[dict[str, Any]]:
    return list(deps.table.iter_query(*layout.VIEWS))


def claim_version(deps: Deps, view: str, dataset_version: str, run_id: str) -> tuple[int, bool]:
    """The view version of an upload's content: the one it already has (a replay, or a retried step), else the
    next number, claimed with the counter in one transaction. Returns (version, whether this call claimed it)."""
    counter_key = layout.view_counter_key(view)
    upload_key = layout.view_upload_key(view, dataset_version)
    for _ in range(MAX_CLAIM_ATTEMPTS):
        existing = deps.table.get(*upload_key)
        if existing is not None:
            return int(existing["version"]), existing.get("run_id") == run_id
        counter = deps.table.get(*counter_key)
        current = int(counter["value"]) if counter else 0
        claim = layout.item(upload_key, view=view, version=current + 1, run_id=run_id, claimed_at=deps.now_iso())
        if deps.table.transact(puts=[claim], counter=Counter(*counter_key, current, current + 1)):
            return current + 1, True
    raise ConflictError(f"could not number a version of view {view} after {MAX_CLAIM_ATTEMPTS} attempts")


def view_versions(
    deps: Deps, view: str, *, newest_first: bool = True, limit: int | None = None
) -> list[dict[str, Any]]:
    """The view's complete materialisations (a version item is written last)."""
    pk, prefix = layout.view_versions(view)
    return deps.table.query(pk, prefix, newest_first=newest_first, limit=limit)


def latest_version(deps: Deps, view: str) -> dict[str, Any] | None:
    found = view_versions(deps, view, limit=1)
    return found[0] if found else None


def history(
    deps: Deps, view: str, up_to: int, *, first_day: str | None = None, last_day: str | None = None
) -> pa.Table:
    """The view's offline rows of every complete version up to ``up_to``, each with the version that brought it
    (``VERSION_COLUMN``); only the event-date partitions between ``first_day`` and ``last_day`` (ISO dates) are
    read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from slipway.domain.feature_views import VERSION_COLUMN

    complete = {int(v["version"]) for v in view_versions(deps, view, newest_first=False)}
    lake = deps.settings.lake_bucket
    parts = []
    for key in deps.store.list_keys(lake, layout.view_offline_prefix(view)):
        day = key.split("event_date=", 1)[1].split("/", 1)[0] if "event_date=" in key else ""
        if (first_day and day < first_day) or (last_day and day > last_day):
            continue
        version = layout.view_version_of_part(key)
        if version > up_to or version not in complete:
            continue
        from slipway.objects import S3Object

        table = pq.read_table(io.BytesIO(deps.store.get_bytes(S3Object(bucket=lake, key=key))))
        parts.append(table.append_column(VERSION_COLUMN, pa.array([version] * table.num_rows, pa.int64())))
    if not parts:
        return pa.table({})
    return pa.concat_tables(parts)
