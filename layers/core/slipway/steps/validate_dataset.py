"""The validate step: an upload becomes a curated, content-addressed dataset version with a
profile and lineage, or is quarantined with a report of every failed check."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, NoReturn

from slipway.adapters.artifacts import S3Ref
from slipway.composition import Container
from slipway.contracts import DatasetVersion, RawObject
from slipway.domain import keys
from slipway.domain.lineage import Edge, dataset_node, spec_node
from slipway.domain.profile import profile_table
from slipway.domain.tables import canonical_parquet, read_upload, sha256_hex
from slipway.domain.validation import apply_pii, validate_table
from slipway.errors import DataContractViolation
from slipway.registry import ModelRegistry
from slipway.steps.runs import start_run, update_run
from slipway.steps.specs import current_spec

MAX_FAILURES_IN_CAUSE = 10


def validate_dataset(c: Container, raw: RawObject, run_id: str) -> DatasetVersion:
    model = keys.model_of_raw_key(raw.key)
    start_run(c, run_id, model=model or "_unknown", raw_uri=raw.uri, raw_version_id=raw.version_id)
    if model is None:
        _quarantine(
            c,
            raw,
            "_unknown",
            run_id,
            {
                "rows": 0,
                "ok": False,
                "bad_values": 0,
                "failures": [
                    {
                        "column": None,
                        "check": "layout",
                        "count": 1,
                        "examples": [],
                        "message": "uploads must be laid out as <model>/<file>",
                    }
                ],
            },
        )
    spec, spec_version = current_spec(c, model)
    data = c.store.get_bytes(S3Ref(raw.bucket, raw.key, raw.version_id))
    try:
        table = read_upload(data, raw.key, contract=spec.data)
    except DataContractViolation as e:
        unreadable = {"rows": 0, "ok": False, "bad_values": 0, "failures": e.details.get("failures", [])}
        _quarantine(c, raw, model, run_id, unreadable)
    typed, report = validate_table(table, spec.data)
    if not report.ok:
        _quarantine(c, raw, model, run_id, report.to_dict())

    curated = apply_pii(typed, spec.data, c.settings.pii_salt)
    body = canonical_parquet(curated)
    version = sha256_hex(body)
    schema_fingerprint = hashlib.sha256(str(curated.schema).encode()).hexdigest()
    data_ref = S3Ref(c.settings.lake_bucket, keys.curated_data_key(model, version))
    profile_ref = S3Ref(c.settings.lake_bucket, keys.curated_profile_key(model, version))
    if not c.store.exists(data_ref):
        c.store.put_bytes(data_ref, body, "application/vnd.apache.parquet")
        c.store.put_json(profile_ref, profile_table(curated, spec.data))

    now = datetime.now(UTC).isoformat()
    pk, sk = keys.dataset_key(model, version)
    created = c.table.put_new(
        {
            "PK": pk,
            "SK": sk,
            "model": model,
            "version": version,
            "rows": curated.num_rows,
            "columns": curated.schema.names,
            "schema_fingerprint": schema_fingerprint,
            "curated_uri": data_ref.uri,
            "profile_uri": profile_ref.uri,
            "spec_version": spec_version,
            "raw_uri": raw.uri,
            "raw_version_id": raw.version_id,
            "run_id": run_id,
            "created_at": now,
            "GSI1PK": f"DATASETS#{model}",
            "GSI1SK": now,
        }
    )
    update_run(c, run_id, dataset_version=version, spec_version=spec_version)
    node = dataset_node(model, version)
    for edge in (Edge(raw.node_id, node, "curated_into"), Edge(spec_node(model, spec_version), node, "validated")):
        for item in edge.items(now):
            c.table.put_new(item)
    return DatasetVersion(
        model=model,
        dataset_version=version,
        rows=curated.num_rows,
        columns=curated.schema.names,
        schema_fingerprint=schema_fingerprint,
        curated_uri=data_ref.uri,
        profile_uri=profile_ref.uri,
        spec_version=spec_version,
        raw_uri=raw.uri,
        raw_version_id=raw.version_id,
        run_id=run_id,
        new=created,
        trained_version=None if created else ModelRegistry(c.table).trained_from(model, version, spec_version),
    )


def _quarantine(c: Container, raw: RawObject, model: str, run_id: str, report: dict[str, Any]) -> NoReturn:
    """Copy the raw object (untouched) and its report under quarantine/, then raise."""
    prefix = keys.quarantine_prefix(model, run_id)
    name = raw.key.rsplit("/", 1)[-1]
    copy_ref = c.store.copy(S3Ref(raw.bucket, raw.key, raw.version_id), S3Ref(c.settings.lake_bucket, prefix + name))
    full = {
        "raw_uri": raw.uri,
        "raw_version_id": raw.version_id,
        "run_id": run_id,
        "model": model,
        "quarantined_copy": copy_ref.uri,
        "checked_at": datetime.now(UTC).isoformat(),
        **report,
    }
    report_ref = c.store.put_json(S3Ref(c.settings.lake_bucket, prefix + "report.json"), full)
    failures = report.get("failures", [])
    summary = "; ".join(
        f"{f.get('column') or '<table>'}: {f['check']} x{f['count']}" for f in failures[:MAX_FAILURES_IN_CAUSE]
    )
    raise DataContractViolation(
        f"{raw.uri} broke the data contract of {model!r} ({len(failures)} failed checks): {summary}",
        {
            "report_uri": report_ref.uri,
            "quarantined_copy": copy_ref.uri,
            "failures": [{k: f.get(k) for k in ("column", "check", "count")} for f in failures[:MAX_FAILURES_IN_CAUSE]],
        },
    )
