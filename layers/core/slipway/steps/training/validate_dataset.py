"""The validate step: an upload becomes a curated, content-addressed dataset version with a
profile and lineage, or is quarantined with a report of every failed check."""

from __future__ import annotations

import json
from typing import Any, NoReturn

import pyarrow as pa

from slipway import layout
from slipway.contracts.training import DatasetVersion
from slipway.domain.digest import sha256_hex
from slipway.domain.lineage import Edge, dataset_node, raw_node, spec_node, view_node
from slipway.domain.profile import profile_table
from slipway.domain.redaction import Redactor, pii_column_names, withhold_row_text
from slipway.domain.tables import canonical_parquet, is_typed_format, read_upload
from slipway.domain.trainability import SplitShape, trainability_failures
from slipway.domain.validation import CheckFailure, apply_pii, validate_table
from slipway.errors import DataContractViolation, InternalError, SlipwayError, SpecError
from slipway.objects import S3Object
from slipway.ports import Deps
from slipway.spec import ModelSpec
from slipway.stores.artifacts import PARQUET, put_if_absent
from slipway.stores.quarantine import finding, quarantine
from slipway.stores.registry import ModelRegistry
from slipway.stores.runs import start_run, update_run
from slipway.stores.specs import current_spec
from slipway.stores.view_join import join_views


def validate_dataset(deps: Deps, raw: S3Object, run_id: str) -> DatasetVersion:
    model = layout.model_of_raw_key(raw.key)
    start_run(deps, run_id, model=model or "_unknown", raw_uri=raw.uri, raw_version_id=raw.version_id)
    if model is None:
        _quarantine(deps, raw, "_unknown", run_id, finding("layout", "uploads must be laid out as <model>/<file>"))
    try:
        spec, spec_version = current_spec(deps, model)
    except SpecError as e:  # nothing to check the upload against: quarantine it with what to push
        message = (
            f"{e.message}: push one whose name is {model!r} (slipway spec push <file>.yaml --env "
            f"{deps.settings.env}), then upload the file again"
        )
        _quarantine(deps, raw, model, run_id, finding("spec", message), error=SpecError)
    data = deps.store.get_bytes(raw)
    upload = spec.data.upload_contract()  # without the columns feature views supply
    try:
        table = read_upload(data, raw.key, contract=upload)
    except DataContractViolation as e:
        failures = e.details.get("failures", [])
        if pii_column_names(spec.data):
            failures = [{**f, "message": withhold_row_text(str(f.get("message", "")))} for f in failures]
        _quarantine(deps, raw, model, run_id, {"rows": 0, "ok": False, "bad_values": 0, "failures": failures})
    redactor = Redactor.of(table, spec.data)
    try:
        typed, report = validate_table(table, upload, stored_types=is_typed_format(raw.key))
        report.failures.extend(_trainability(spec, typed))
    except SlipwayError:
        raise
    except Exception as exc:
        kind = type(exc).__name__
        raise InternalError(
            redactor.text(f"unexpected {kind} while validating {raw.uri}: {exc}"), {"type": kind}
        ) from exc
    if not report.ok:
        _quarantine(deps, raw, model, run_id, report.to_dict(), redactor=redactor)

    typed, views = join_views(deps, spec.data, typed)
    curated = apply_pii(typed, spec.data, deps.settings.pii_salt)
    body = canonical_parquet(curated)
    version = sha256_hex(body)
    schema_fingerprint = sha256_hex(str(curated.schema).encode())
    lake = deps.settings.lake_bucket
    data_obj = layout.curated_data(lake, model, version)
    profile_obj = layout.curated_profile(lake, model, version)
    # Content-addressed, each written once (a retry after a crash between the two writes the missing one).
    put_if_absent(deps.store, profile_obj, lambda: _json_bytes(profile_table(curated, spec.data)), "application/json")
    put_if_absent(deps.store, data_obj, body, PARQUET)

    now = deps.now_iso()
    recorded = {  # what the dataset item and the step's result share
        "model": model,
        "rows": curated.num_rows,
        "columns": curated.schema.names,
        "schema_fingerprint": schema_fingerprint,
        "curated_uri": data_obj.uri,
        "profile_uri": profile_obj.uri,
        "spec_version": spec_version,
        "raw_uri": raw.uri,
        "raw_version_id": raw.version_id,
        "run_id": run_id,
        "views": views,
    }
    created = deps.table.put_new(
        layout.item(
            layout.dataset_key(model, version),
            version=version,
            created_at=now,
            **recorded,
            **layout.dataset_listing(model, now),
        )
    ) or _created_by(deps, model, version, run_id)
    update_run(
        deps,
        run_id,
        dataset_version=version,
        spec_version=spec_version,
        dropped_null_target=report.dropped_null_target or None,
    )
    node = dataset_node(model, version)
    raw_id = raw_node(raw.uri, raw.version_id)
    edges = [Edge(raw_id, node, "curated_into"), Edge(spec_node(model, spec_version), node, "validated")]
    edges += [Edge(view_node(v["view"], v["version"]), node, "joined_into") for v in views]
    for edge in edges:
        for item in edge.items(now):
            deps.table.put_new(item)
    trained = None if created else ModelRegistry.of(deps).trained_from(model, version, spec_version)
    if trained is not None:  # the state machine ends here (NothingToTrain): close the run
        update_run(deps, run_id, status="SUCCEEDED", outcome="nothing_to_train", model_version=trained, ended_at=now)
    return DatasetVersion(
        dataset_version=version,
        new=created,
        trained_version=trained,
        dropped_null_target=report.dropped_null_target,
        **recorded,
    )


def _created_by(deps: Deps, model: str, version: str, run_id: str) -> bool:
    """A retried step made the dataset version itself if the item names its run."""
    existing = deps.table.get(*layout.dataset_key(model, version))
    return existing is not None and existing.get("run_id") == run_id


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True, default=str).encode()


def _trainability(spec: ModelSpec, typed: pa.Table) -> list[CheckFailure]:
    """A spec that trains: can this table train (classes, variance, rows for the split)? Checked on the
    target values that passed validation; skipped when there is none to judge (the target column is
    missing, or every value failed its type) but rows were uploaded."""
    target = typed.column(spec.data.target)
    if spec.training is None or (typed.num_rows and target.null_count == typed.num_rows):
        return []
    split = spec.training.split
    return trainability_failures(
        spec.data.target,
        target,
        spec.training.task,
        SplitShape(valid=split.valid, test=split.test),
        show_values=spec.data.column(spec.data.target).pii == "keep",
    )


def _quarantine(
    deps: Deps,
    raw: S3Object,
    model: str,
    run_id: str,
    report: dict[str, Any],
    *,
    error: type[SlipwayError] = DataContractViolation,
    redactor: Redactor | None = None,
) -> NoReturn:
    """Copy the raw object (untouched) and its report (PII values masked) under quarantine/<model>/, then raise."""
    lake = deps.settings.lake_bucket
    quarantine(
        deps,
        raw,
        run_id,
        report,
        copy_obj=layout.quarantine_copy(lake, model, run_id, raw.key.rsplit("/", 1)[-1] or "upload"),
        report_obj=layout.quarantine_report(lake, model, run_id),
        subject={"model": model},
        contract=f"the data contract of {model!r}",
        error=error,
        redact=redactor.json if redactor else None,
    )
