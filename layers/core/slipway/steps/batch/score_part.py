"""One child of the batch_inference Distributed Map: an object under the input prefix is read (Parquet, or CSV),
checked vectorised against the data contract of the pinned version, scored with that version's ONNX model
(loaded only from the registry's key after its SHA-256 matches, as the HTTP API loads it) and written as
Parquet under the run's predictions prefix. A part with rows that break the contract is rejected whole:
its report lands under ``_rejected/`` and the part fails with ``DataContractViolation``."""

from __future__ import annotations

import time
from typing import Any, NoReturn

from slipway import layout
from slipway.contracts.batch import PartRequest, PartResult, ResolvedBatch
from slipway.domain.batch_scoring import predictions_table, score_table, scoring_contract
from slipway.domain.tables import read_upload
from slipway.domain.validation import validate_table
from slipway.errors import ConflictError, DataContractViolation
from slipway.ports import Deps
from slipway.serving.models import ModelCache, ServedModel
from slipway.serving.rows import served_columns
from slipway.stores.artifacts import write_parquet
from slipway.stores.batch_runs import record_part
from slipway.stores.registry import ModelRegistry
from slipway.stores.specs import spec_at

__all__ = ["DATA_SUFFIXES", "is_data_part", "score_part"]

DATA_SUFFIXES = (".parquet", ".pq", ".csv", ".csv.gz")
MAX_FAILURES_IN_CAUSE = 10


def is_data_part(part: str) -> bool:
    """Objects a batch scores: Parquet or CSV files whose name does not start with ``_`` or ``.`` (markers such
    as Spark's ``_SUCCESS`` and hidden files are skipped, as Parquet dataset readers skip them)."""
    name = part.rsplit("/", 1)[-1]
    return bool(name) and not name.startswith(("_", ".")) and name.lower().endswith(DATA_SUFFIXES)


def score_part(deps: Deps, request: PartRequest, models: ModelCache) -> PartResult:
    batch, part = request.batch, request.part
    if not is_data_part(part):
        record_part(deps, batch.run_id, part, "SKIPPED", input_uri=request.source.uri, rows=0)
        return PartResult(part=part, status="SKIPPED", rows=0)
    started = time.perf_counter()
    timings: dict[str, float] = {}
    try:
        result = _score(deps, request, models, timings)
    except DataContractViolation as e:
        record_part(
            deps,
            batch.run_id,
            part,
            "REJECTED",
            input_uri=request.source.uri,
            error_type=type(e).__name__,
            error_message=e.message,
            report_uri=e.details.get("report_uri"),
            failures=e.details.get("failures", []),
        )
        raise
    except Exception as e:  # recorded for the conclusion, then raised for the Map's Retry/tolerance as it is
        record_part(
            deps,
            batch.run_id,
            part,
            "FAILED",
            input_uri=request.source.uri,
            error_type=type(e).__name__,
            error_message=str(e)[:1000],
        )
        raise
    record_part(
        deps,
        batch.run_id,
        part,
        "SCORED",
        input_uri=request.source.uri,
        rows=result.rows,
        output_uri=result.output_uri,
        seconds=round(time.perf_counter() - started, 3),
        timings={stage: round(s, 3) for stage, s in timings.items()},
    )
    return result


def _served(deps: Deps, batch: ResolvedBatch, models: ModelCache) -> ServedModel:
    item = ModelRegistry.of(deps).get_version(batch.model, batch.version)
    recorded = item.get("artifacts", {}).get(layout.MODEL_ONNX, {}).get("sha256")
    if recorded != batch.onnx_sha256:
        raise ConflictError(
            f"{batch.model}@{batch.version}'s ONNX artifact changed during the run (pinned {batch.onnx_sha256[:12]}…)",
            {"model": batch.model, "version": batch.version, "pinned": batch.onnx_sha256, "recorded": recorded},
        )
    contract = spec_at(deps, batch.model, batch.spec_version).data
    return models.get(item, contract, served_columns(contract, [str(i["name"]) for i in item["inputs"]]))


def _score(deps: Deps, request: PartRequest, models: ModelCache, timings: dict[str, float]) -> PartResult:
    """Score one part; ``timings`` gets the seconds of each stage (model, read, check, score, write)."""
    batch, part = request.batch, request.part
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[stage] = now - clock
        clock = now

    served = _served(deps, batch, models)
    lap("model")
    try:
        table = read_upload(deps.store.get_bytes(request.source), request.key, contract=served.contract)
    except DataContractViolation as e:
        _reject(deps, request, {"rows": 0, "ok": False, "bad_values": 0, "failures": e.details.get("failures", [])})
    lap("read")
    contract = served.contract
    entity_column = contract.entity_id if contract.entity_id in table.column_names else None
    checked = scoring_contract(contract, [i.name for i in served.inputs], entity_present=entity_column is not None)
    present = [name for name in checked.names if name in table.column_names]
    typed, report = validate_table(table.select(present), checked)
    if not report.ok:
        _reject(deps, request, report.to_dict())
    lap("check")

    scores = score_table(
        served.session,
        served.task,
        served.labels,
        served.inputs,
        typed,
        threshold=served.threshold,
        positive=served.positive,
    )
    lap("score")
    entity = (entity_column, typed.column(entity_column)) if entity_column else None
    metadata = {
        "model": batch.model,
        "version": str(batch.version),
        "onnx_sha256": batch.onnx_sha256,
        "run_id": batch.run_id,
        "input": request.source.uri,
    }
    table_out = predictions_table(part, scores, served.labels, entity, metadata)
    target = layout.predictions_part(deps.settings.lake_bucket, batch.model, batch.version, batch.run_id, part)
    written = write_parquet(deps.store, target, table_out)
    lap("write")
    return PartResult(part=part, status="SCORED", rows=typed.num_rows, output_uri=written.uri)


def _reject(deps: Deps, request: PartRequest, report: dict[str, Any]) -> NoReturn:
    """Write the part's report of every failed check (row numbers within the part), then fail the part."""
    batch, part = request.batch, request.part
    where = layout.predictions_rejected(deps.settings.lake_bucket, batch.model, batch.version, batch.run_id, part)
    stored = deps.store.put_json(
        where,
        {
            "run_id": batch.run_id,
            "model": batch.model,
            "version": batch.version,
            "part": part,
            "input_uri": request.source.uri,
            "checked_at": deps.now_iso(),
            **report,
        },
    )
    failures = report.get("failures", [])
    summary = "; ".join(
        f"{f.get('column') or '<table>'}: {f['check']} x{f['count']}" for f in failures[:MAX_FAILURES_IN_CAUSE]
    )
    raise DataContractViolation(
        f"{request.source.uri} broke the data contract of {batch.model}@{batch.version}: {summary}",
        {
            "report_uri": stored.uri,
            "part": part,
            "failures": [
                {k: f.get(k) for k in ("column", "check", "count", "examples")}
                for f in failures[:MAX_FAILURES_IN_CAUSE]
            ],
        },
    )
