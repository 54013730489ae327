"""The materialise step: an upload to ``views/<view>/`` becomes a view version — checked by the view's data contract
(a bad upload is quarantined with its report, as a model's is), kept offline as Parquet partitioned by event date, and
written online as each entity's newest values (a newer event time wins; a replayed or older upload changes
nothing)."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any, NoReturn

import pyarrow.compute as pc
import pyarrow.parquet as pq

from slipway import layout
from slipway.domain.feature_views import newest_per_entity
from slipway.domain.lineage import Edge, raw_node, view_node, view_spec_node
from slipway.domain.tables import canonical_parquet
from slipway.domain.upload_stream import validate_upload_file
from slipway.domain.validation import apply_pii
from slipway.errors import DataContractViolation, SlipwayError, SpecError
from slipway.objects import S3Object
from slipway.ports import Deps
from slipway.spec.feature_view import FeatureViewSpec
from slipway.stores.artifacts import PARQUET, put_if_absent
from slipway.stores.feature_views import claim_version, current_view
from slipway.stores.quarantine import finding, quarantine
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
            deps, raw, "_unknown", run_id, finding("layout", "view uploads are laid out as views/<view>/<file>")
        )
    try:
        view, spec_version = current_view(deps, view_name)
    except SpecError as e:
        message = (
            f"{e.message}: push it (slipway features push <file>.yaml --env {deps.settings.env}), then upload again"
        )
        _quarantine(deps, raw, view_name, run_id, finding("spec", message), error=SpecError)
    contract = view.contract()
    with tempfile.TemporaryDirectory(prefix="materialise-") as scratch:
        local = Path(scratch) / (raw.key.rsplit("/", 1)[-1] or "upload")
        deps.store.download(raw, local)
        try:  # in parts: memory holds a part of the upload (CSV blocks, Parquet row groups), never the whole file
            streamed = validate_upload_file(
                local,
                raw.key,
                contract,
                lambda typed: apply_pii(typed, contract, deps.settings.pii_salt),
                Path(scratch) / "curated.parquet",
            )
        except DataContractViolation as e:
            report = {"rows": 0, "ok": False, "bad_values": 0, "failures": e.details.get("failures", [])}
            _quarantine(deps, raw, view_name, run_id, report)
        local.unlink()
        if streamed.curated is None:
            _quarantine(deps, raw, view_name, run_id, streamed.report.to_dict())
        return _materialise(deps, raw, run_id, view, spec_version, streamed.curated, streamed.rows)


def _materialise(
    deps: Deps, raw: S3Object, run_id: str, view: FeatureViewSpec, spec_version: str, curated: Path, rows: int
) -> dict[str, Any]:
    """The curated rows (canonical Parquet: the dataset version is its hash) into the view's offline history and the
    online store, one row group at a time."""
    name = view.name
    dataset_version = _file_sha256(curated)
    version, claimed = claim_version(deps, name, dataset_version, run_id)
    done = deps.table.get(*layout.view_version_key(name, version))
    if done is not None and done.get("run_id") != run_id:  # the same content was materialised before: a replay
        update_run(
            deps,
            run_id,
            status="SUCCEEDED",
            outcome="already_materialised",
            view_version=version,
            ended_at=deps.now_iso(),
        )
        return {"view": name, "version": version, "new": False, "written": 0, "rows": rows}

    lake = deps.settings.lake_bucket
    features = [f.name for f in view.features]
    key_types = [view.contract().column(k).type for k in view.entity]
    written = considered = 0
    first: Any = None
    last: Any = None
    parquet = pq.ParquetFile(curated)
    for group in range(parquet.num_row_groups):
        part = parquet.read_row_group(group)
        times = part.column(view.timestamp)
        days = pc.strftime(times, format="%Y-%m-%d")
        for day in sorted(pc.unique(days).to_pylist()):
            rows_of_day = part.filter(pc.equal(days, day))
            put_if_absent(
                deps.store,
                layout.view_offline_part(lake, name, day, version, dataset_version, group),
                canonical_parquet(rows_of_day),
                PARQUET,
            )
        # each row group's newest row per entity; across row groups the store's condition keeps the newest (ties:
        # the earlier row group, as offline the earlier row)
        records = newest_per_entity(
            part,
            view=name,
            entity=view.entity,
            entity_types=key_types,
            timestamp=view.timestamp,
            features=features,
            version=version,
            ttl_s=view.ttl_seconds,
        )
        considered += len(records)
        written += sum(
            deps.online.write_newer(records[i : i + ONLINE_BATCH]) for i in range(0, len(records), ONLINE_BATCH)
        )
        low, high = pc.min(times).as_py(), pc.max(times).as_py()
        first = low if first is None or (low is not None and low < first) else first
        last = high if last is None or (high is not None and high > last) else last
    now = deps.now_iso()
    recorded = {
        "view": name,
        "version": version,
        "spec_version": spec_version,
        "dataset_version": dataset_version,
        "raw_uri": raw.uri,
        "raw_version_id": raw.version_id,
        "rows": rows,
        "online_records": considered,
        "written_online": written,
        "first_event": first.isoformat() if first is not None else None,
        "last_event": last.isoformat() if last is not None else None,
        "run_id": run_id,
        "created_at": now,
    }
    deps.table.put_new(layout.item(layout.view_version_key(name, version), **recorded))
    node = view_node(name, version)
    edges = (
        Edge(raw_node(raw.uri, raw.version_id), node, "materialised_into"),
        Edge(view_spec_node(name, spec_version), node, "validated"),
    )
    for edge in edges:
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
    return {"view": name, "version": version, "new": claimed, "written": written, "rows": rows}


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _quarantine(
    deps: Deps,
    raw: S3Object,
    view: str,
    run_id: str,
    report: dict[str, Any],
    *,
    error: type[SlipwayError] = DataContractViolation,
) -> NoReturn:
    """Copy the raw object (untouched) and its report under quarantine/views/<view>/, then raise."""
    lake = deps.settings.lake_bucket
    quarantine(
        deps,
        raw,
        run_id,
        report,
        copy_obj=layout.view_quarantine_copy(lake, view, run_id, raw.key.rsplit("/", 1)[-1] or "upload"),
        report_obj=layout.view_quarantine_report(lake, view, run_id),
        subject={"view": view},
        contract=f"the contract of feature view {view!r}",
        error=error,
    )
