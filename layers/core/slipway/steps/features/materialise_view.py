"""The materialise step: an upload to ``views/<view>/`` becomes a view version — checked by the view's data contract
(a bad upload is quarantined with its report, as a model's is), kept offline as Parquet partitioned by event date, and
written online as each entity's newest values (a newer event time wins; a replayed or older upload changes
nothing)."""

from __future__ import annotations

from typing import Any, NoReturn

import pyarrow as pa
import pyarrow.compute as pc

from slipway import layout
from slipway.domain.digest import sha256_hex
from slipway.domain.feature_views import newest_per_entity
from slipway.domain.lineage import Edge, raw_node, view_node, view_spec_node
from slipway.domain.tables import canonical_parquet, is_typed_format, read_upload
from slipway.domain.validation import apply_pii, validate_table
from slipway.errors import DataContractViolation, SlipwayError, SpecError
from slipway.objects import S3Object
from slipway.ports import Deps
from slipway.stores.artifacts import PARQUET, put_if_absent
from slipway.stores.feature_views import claim_version, current_view
from slipway.stores.runs import start_run, update_run

ONLINE_BATCH = 10_000  # records handed to the online store at a time (its reads and writes batch further)


def materialise_view(deps: Deps, raw: S3Object, run_id: str) -> dict[str, Any]:
    view_name = layout.view_of_raw_key(raw.key)
    start_run(
        deps,
        run_id,
        kind="materialisation",
        view=view_name or "_unknown",
        raw_uri=raw.uri,
        raw_version_id=raw.version_id,
    )
    if view_name is None:
        _quarantine(
            deps, raw, "_unknown", run_id, _finding("layout", "view uploads are laid out as views/<view>/<file>")
        )
    try:
        view, spec_version = current_view(deps, view_name)
    except SpecError as e:
        message = (
            f"{e.message}: push it (slipway features push <file>.yaml --env {deps.settings.env}), then upload again"
        )
        _quarantine(deps, raw, view_name, run_id, _finding("spec", message), error=SpecError)
    contract = view.contract()
    try:
        table = read_upload(deps.store.get_bytes(raw), raw.key, contract=contract)
    except DataContractViolation as e:
        report = {"rows": 0, "ok": False, "bad_values": 0, "failures": e.details.get("failures", [])}
        _quarantine(deps, raw, view_name, run_id, report)
    typed, checked = validate_table(table, contract, stored_types=is_typed_format(raw.key))
    if not checked.ok:
        _quarantine(deps, raw, view_name, run_id, checked.to_dict())
    curated = apply_pii(typed, contract, deps.settings.pii_salt)
    dataset_version = sha256_hex(canonical_parquet(curated))
    version, claimed = claim_version(deps, view_name, dataset_version, run_id)
    done = deps.table.get(*layout.view_version_key(view_name, version))
    if done is not None and done.get("run_id") != run_id:  # the same content was materialised before: a replay
        update_run(
            deps,
            run_id,
            status="SUCCEEDED",
            outcome="already_materialised",
            view_version=version,
            ended_at=deps.now_iso(),
        )
        return {"view": view_name, "version": version, "new": False, "written": 0, "rows": curated.num_rows}

    lake = deps.settings.lake_bucket
    days = pc.strftime(curated.column(view.timestamp), format="%Y-%m-%d")
    for day in sorted(pc.unique(days).to_pylist()):
        part = curated.filter(pc.equal(days, day))
        put_if_absent(
            deps.store,
            layout.view_offline_part(lake, view_name, day, version, dataset_version),
            canonical_parquet(part),
            PARQUET,
        )
    features = [f.name for f in view.features]
    types = [contract.column(k).type for k in view.entity]
    records = newest_per_entity(
        curated,
        view=view_name,
        entity=view.entity,
        entity_types=types,
        timestamp=view.timestamp,
        features=features,
        version=version,
        ttl_s=view.ttl_seconds,
    )
    written = sum(deps.online.write_newer(records[i : i + ONLINE_BATCH]) for i in range(0, len(records), ONLINE_BATCH))
    times = curated.column(view.timestamp)
    now = deps.now_iso()
    recorded = {
        "view": view_name,
        "version": version,
        "spec_version": spec_version,
        "dataset_version": dataset_version,
        "raw_uri": raw.uri,
        "raw_version_id": raw.version_id,
        "rows": curated.num_rows,
        "entities": len(records),
        "written_online": written,
        "first_event": _iso(pc.min(times)),
        "last_event": _iso(pc.max(times)),
        "run_id": run_id,
        "created_at": now,
    }
    deps.table.put_new(layout.item(layout.view_version_key(view_name, version), **recorded))
    node = view_node(view_name, version)
    for edge in (
        Edge(raw_node(raw.uri, raw.version_id), node, "materialised_into"),
        Edge(view_spec_node(view_name, spec_version), node, "validated"),
    ):
        for item in edge.items(now):
            deps.table.put_new(item)
    update_run(
        deps,
        run_id,
        status="SUCCEEDED",
        outcome="materialised",
        view_version=version,
        spec_version=spec_version,
        dataset_version=dataset_version,
        ended_at=now,
    )
    return {"view": view_name, "version": version, "new": claimed, "written": written, "rows": curated.num_rows}


def _iso(value: pa.Scalar) -> str | None:
    found = value.as_py()
    return found.isoformat() if found is not None else None


def _finding(check: str, message: str) -> dict[str, Any]:
    failure: dict[str, Any] = {"column": None, "check": check, "count": 1, "examples": [], "message": message}
    return {"rows": 0, "ok": False, "bad_values": 0, "failures": [failure]}


def _quarantine(
    deps: Deps,
    raw: S3Object,
    view: str,
    run_id: str,
    report: dict[str, Any],
    *,
    error: type[SlipwayError] = DataContractViolation,
) -> NoReturn:
    """Copy the raw object (untouched) and its report under ``quarantine/views/``, close the run, then raise."""
    lake = deps.settings.lake_bucket
    copy_obj = layout.view_quarantine_copy(lake, view, run_id, raw.key.rsplit("/", 1)[-1] or "upload")
    report_obj = layout.view_quarantine_report(lake, view, run_id)
    if not deps.store.exists(report_obj):
        copied = deps.store.copy(raw, copy_obj)
        deps.store.put_json(
            report_obj,
            {
                "raw_uri": raw.uri,
                "raw_version_id": raw.version_id,
                "run_id": run_id,
                "view": view,
                "quarantined_copy": copied.uri,
                "checked_at": deps.now_iso(),
                **report,
            },
        )
    failures = report.get("failures", [])
    summary = "; ".join(f"{f.get('column') or '<table>'}: {f['check']} x{f['count']}" for f in failures[:10])
    if error is DataContractViolation:
        message = f"{raw.uri} broke the contract of feature view {view!r} ({len(failures)} failed checks): {summary}"
    else:
        message = f"{raw.uri} cannot be materialised: {failures[0]['message'] if failures else summary}"
    raise error(
        message,
        {
            "report_uri": report_obj.uri,
            "quarantined_copy": copy_obj.uri,
            "failures": [{k: f.get(k) for k in ("column", "check", "count")} for f in failures[:10]],
        },
    )
