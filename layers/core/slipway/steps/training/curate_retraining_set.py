"""The retraining step: a drift's training run starts from data already curated, not from an upload. Its
dataset version is the curated upload the drifted version learned from (for a version itself retrained, the
upload its set extended; the newest curated upload when the order does not say) plus every labelled capture
(a served row joined by request id and row to its latest feedback) of the environment where the drift was
found (this one, or staging's or prod's lake, whose bucket policy lets this function's role read captures/ and
feedback/), the captured rows carrying the model's inputs and the target only (captures hold nothing else; the
contract's other columns are null there). Nothing is validated or PII-hashed again: the upload's rows are
already curated and model inputs are never PII (the spec refuses it)."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc

from slipway import layout
from slipway.contracts.drift import CurateRetrainingRequest
from slipway.contracts.training import DatasetVersion
from slipway.domain.digest import sha256_hex
from slipway.domain.lineage import Edge, dataset_node, spec_node
from slipway.domain.profile import profile_table
from slipway.domain.tables import canonical_parquet
from slipway.errors import DataContractViolation
from slipway.objects import S3Object
from slipway.ports import Deps
from slipway.stores.artifacts import PARQUET, put_if_absent, read_parquet
from slipway.stores.captures import as_type, field_of, json_objects, latest_feedback
from slipway.stores.registry import ModelRegistry
from slipway.stores.runs import start_run, update_run
from slipway.stores.specs import current_spec

ORIGIN = "retraining"  # a dataset item's ``origin`` when this step made it (an upload's has none)


def curate_retraining_set(deps: Deps, request: CurateRetrainingRequest) -> DatasetVersion:
    order, run_id = request.retrain, request.run_id
    model = order.model
    spec, spec_version = current_spec(deps, model)
    base = retraining_base(deps, model, order.dataset_version)
    start_run(deps, run_id, model=model, raw_uri=base["raw_uri"], raw_version_id=base.get("raw_version_id"))
    curated = read_parquet(deps.store, S3Object.parse(str(base["curated_uri"])))
    inputs = [c.name for c in spec.data.columns if c.pii == "keep" and c.name != spec.data.target]
    lake = deps.settings.lake_bucket
    if order.env and order.account and order.env != deps.settings.env:
        lake = layout.lake_bucket_of(order.account, order.env)
    drifted_in = order.env or deps.settings.env
    allowed = spec.monitoring.retraining.captures_from if spec.monitoring is not None else ("dev", "staging")
    if drifted_in in allowed:
        captured = labelled_captures(deps, model, curated.schema, inputs, spec.data.target, lake)
        captures_from: str | None = f"s3://{lake}/{layout.captures_of(model)}"
    else:  # the spec keeps that environment's traffic where it is: the upload alone (nothing new: NothingToTrain)
        captured, captures_from = curated.schema.empty_table(), None
    table = pa.concat_tables([curated, captured]) if captured.num_rows else curated
    body = canonical_parquet(table)
    version = sha256_hex(body)
    home = deps.settings.lake_bucket
    data_obj, profile_obj = layout.curated_data(home, model, version), layout.curated_profile(home, model, version)
    put_if_absent(
        deps.store,
        profile_obj,
        lambda: json.dumps(profile_table(table, spec.data), indent=2, sort_keys=True, default=str).encode(),
        "application/json",
    )
    put_if_absent(deps.store, data_obj, body, PARQUET)

    now = deps.now_iso()
    recorded = {
        "model": model,
        "rows": table.num_rows,
        "columns": table.schema.names,
        "schema_fingerprint": sha256_hex(str(table.schema).encode()),
        "curated_uri": data_obj.uri,
        "profile_uri": profile_obj.uri,
        "spec_version": spec_version,
        "raw_uri": str(base["raw_uri"]),  # the upload this set extends: lineage reaches it through the registry
        "raw_version_id": base.get("raw_version_id"),
        "run_id": run_id,
        # the captured rows hold the views' values the model saw when it answered (point in time by construction)
        "views": base.get("views") or [],
    }
    created = deps.table.put_new(
        layout.item(
            layout.dataset_key(model, version),
            version=version,
            created_at=now,
            origin=ORIGIN,
            base_dataset_version=base["version"],
            captured_rows=captured.num_rows,
            captures_from=captures_from or f"none: monitoring.retraining.captures_from leaves out {drifted_in}",
            check_id=order.check_id,
            **recorded,
            **layout.dataset_listing(model, now),
        )
    )
    if not created:
        existing = deps.table.get(*layout.dataset_key(model, version)) or {}
        created = existing.get("run_id") == run_id
    update_run(deps, run_id, dataset_version=version, spec_version=spec_version, retraining_check_id=order.check_id)
    node = dataset_node(model, version)
    edges = [Edge(spec_node(model, spec_version), node, "validated")]
    if version != base["version"]:  # no labelled capture yet: the set is the upload's own dataset version
        edges.append(Edge(dataset_node(model, str(base["version"])), node, "extended_into"))
    for edge in edges:
        for item in edge.items(now):
            deps.table.put_new(item)
    trained = None if created else ModelRegistry.of(deps).trained_from(model, version, spec_version)
    if trained is not None:  # nothing new since the last retraining: the machine ends at NothingToTrain
        update_run(deps, run_id, status="SUCCEEDED", outcome="nothing_to_train", model_version=trained, ended_at=now)
    return DatasetVersion(dataset_version=version, new=created, trained_version=trained, **recorded)


def retraining_base(deps: Deps, model: str, learned_from: str) -> dict[str, object]:
    """The curated upload a retraining extends: the one the drifted version learned from, so that a newer upload
    whose version never reached production (failed its gates, rolled back by its canary, still waiting for
    approval) does not become the base unasked. ``learned_from`` is that version's dataset version (a retraining
    set's points to the upload it extended); when it is unknown here (an order sent before it was carried, or a
    dataset this environment does not hold), the model's newest curated upload."""
    if learned_from:
        item = deps.table.get(*layout.dataset_key(model, learned_from))
        if item is not None and item.get("origin") == ORIGIN:
            item = deps.table.get(*layout.dataset_key(model, str(item["base_dataset_version"])))
        if item is not None:
            return item
    return latest_upload(deps, model)


def latest_upload(deps: Deps, model: str) -> dict[str, object]:
    """The model's newest dataset version curated from an upload (retraining sets are not bases: each one is
    rebuilt from an upload and all labelled captures, so no capture is counted twice)."""
    for item in deps.table.iter_query(*layout.datasets_by_time(model), index=layout.GSI1, newest_first=True):
        if item.get("origin") != ORIGIN:
            return item
    raise DataContractViolation(
        f"no curated upload of {model!r} to retrain on: upload one to the raw bucket first", {"model": model}
    )


def labelled_captures(
    deps: Deps, model: str, schema: pa.Schema, inputs: list[str], target: str, lake: str | None = None
) -> pa.Table:
    """Every served row of the model with feedback in ``lake`` (default: this environment's), in ``schema`` (the
    curated table's): its captured inputs, the latest feedback as the target, every other column null. Rows in
    (request id, row) order, each once."""
    parts = []
    for raw in json_objects(deps, [layout.captures_of(model)], lake):
        kind = field_of(raw, "kind")
        if kind is not None:
            raw = raw.filter(pc.fill_null(pc.equal(kind, "captures"), False))
        rows = raw.num_rows
        if rows == 0 or field_of(raw, "request_id") is None:
            continue
        error = field_of(raw, "error")
        if error is not None and not pa.types.is_null(error.type):
            raw = raw.filter(pc.is_null(error))
            rows = raw.num_rows
        columns = {
            "__request_id": as_type(field_of(raw, "request_id"), pa.string(), rows),
            "__row": pc.fill_null(as_type(field_of(raw, "row"), pa.int64(), rows), 0),
        }
        for name in inputs:
            kind_of = schema.field(name).type if name in schema.names else pa.string()
            text = pa.types.is_string(kind_of) or pa.types.is_large_string(kind_of)
            values = as_type(field_of(raw, "inputs", name), pa.string() if text else kind_of, rows)
            columns[name] = values
        parts.append(pa.table(columns))
    feedback = latest_feedback(deps, [layout.feedback_of(model)], regression=False, bucket=lake)  # answers as text
    if not parts or feedback is None:
        return schema.empty_table()
    served = pa.concat_tables(parts, promote_options="permissive")
    served = served.group_by(["__request_id", "__row"], use_threads=False).aggregate(
        [(n, "first") for n in inputs if n in served.schema.names]
    )
    served = served.rename_columns([n.removesuffix("_first") for n in served.schema.names])
    feedback = feedback.rename_columns(["__request_id", "__row", "__actual"])
    joined = served.join(feedback, keys=["__request_id", "__row"], join_type="inner", use_threads=False)
    joined = joined.sort_by([("__request_id", "ascending"), ("__row", "ascending")])
    rows = joined.num_rows
    arrays = []
    for f in schema:
        if f.name == target:
            arrays.append(_target(joined["__actual"], f.type))
        elif f.name in inputs and f.name in joined.schema.names:
            arrays.append(joined[f.name].cast(f.type))
        else:
            arrays.append(pa.chunked_array([pa.nulls(rows, f.type)]))
    return pa.Table.from_arrays(arrays, schema=schema)


def _target(actual: pa.ChunkedArray, kind: pa.DataType) -> pa.ChunkedArray:
    """Feedback's answers (text, as the feedback API stores any label) in the curated target's type."""
    if pa.types.is_boolean(kind):
        lowered = pc.utf8_lower(actual.cast(pa.string()))
        return pc.is_in(lowered, value_set=pa.array(["true", "1", "yes"]))
    return actual.cast(kind)
