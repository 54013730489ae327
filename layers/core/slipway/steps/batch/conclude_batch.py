"""The last step of batch scoring. After the Map: every part's record is read back; when all were scored (or
skipped), the summary (rows, parts, output prefix) is written last under the prefix, marking it complete, and
the run SUCCEEDED. After any failure (a Catch), it explains the failure from the parts' records — a part whose
rows broke the contract makes the run fail ``DataContractViolation`` naming parts, checks and reports, where
the Map itself only says a child failed — and records the run FAILED with that typed error."""

from __future__ import annotations

import json
from typing import Any

from slipway import layout
from slipway.contracts.batch import BatchFailure, BatchSummary, ConcludeBatchRequest
from slipway.errors import ALL_ERRORS, NotFound, SlipwayError
from slipway.ports import Deps
from slipway.stores.batch_runs import parts_of
from slipway.stores.runs import get_run, listing, update_run

MAX_CAUSE_CHARS = 4000  # a Fail state's Cause holds at most 32,768 characters; the run item keeps it whole
MAX_PARTS_IN_CAUSE = 5


def conclude_batch(deps: Deps, request: ConcludeBatchRequest) -> BatchSummary | BatchFailure:
    run = get_run(deps, request.run_id) or {}
    parts = parts_of(deps, request.run_id)
    if request.error is not None:
        return _fail(deps, request.run_id, *_explain(run, parts, request.error))
    failed = [p for p in parts if p["status"] in ("REJECTED", "FAILED")]
    if failed:  # a child failed but the Map went on (a tolerated failure): the run still fails, typed
        error_type, cause = _explain(run, parts, {})
        raise ALL_ERRORS.get(error_type, SlipwayError)(cause)
    scored = [p for p in parts if p["status"] == "SCORED"]
    if not scored:
        skipped = [p["part"] for p in parts]
        raise NotFound(
            f"no Parquet or CSV parts under {run.get('input_uri')}"
            + (f" (skipped: {', '.join(skipped)})" if skipped else ""),
            {"input_uri": run.get("input_uri")},
        )
    return _succeed(deps, request.run_id, run, scored, [p["part"] for p in parts if p["status"] == "SKIPPED"])


def _succeed(
    deps: Deps, run_id: str, run: dict[str, Any], scored: list[dict[str, Any]], skipped: list[str]
) -> BatchSummary:
    model, version = str(run["model"]), int(run["model_version"])
    where = layout.predictions_summary(deps.settings.lake_bucket, model, version, run_id)
    rows = sum(int(p["rows"]) for p in scored)
    seconds = round(sum(float(p.get("seconds", 0)) for p in scored), 3)
    ended = deps.now_iso()
    summary = BatchSummary(
        run_id=run_id,
        model=model,
        version=version,
        onnx_sha256=str(run["onnx_sha256"]),
        input_uri=str(run["input_uri"]),
        output_uri=str(run["output_uri"]),
        summary_uri=where.uri,
        parts=len(scored),
        rows=rows,
        skipped=skipped,
        seconds=seconds,
    )
    deps.store.put_json(
        where,
        {
            **summary.model_dump(mode="json"),
            "started_at": run.get("started_at"),
            "ended_at": ended,
            "files": [{"part": p["part"], "rows": int(p["rows"]), "uri": p["output_uri"]} for p in scored],
        },
    )
    update_run(
        deps,
        run_id,
        status="SUCCEEDED",
        rows=rows,
        parts=len(scored),
        skipped=len(skipped),
        summary_uri=where.uri,
        ended_at=ended,
    )
    return summary


def _fail(deps: Deps, run_id: str, error_type: str, cause: str) -> BatchFailure:
    update_run(
        deps,
        run_id,
        status="FAILED",
        error_type=error_type,
        error_message=cause,
        ended_at=deps.now_iso(),
        **listing(deps, run_id),
    )
    return BatchFailure(run_id=run_id, error=error_type, cause=cause[:MAX_CAUSE_CHARS])


def _message(cause: Any) -> str:
    """A Lambda error arrives as a JSON payload in the Catch's Cause; keep its message when it is one."""
    try:
        payload = json.loads(cause)
    except (json.JSONDecodeError, TypeError):
        return str(cause or "")
    if isinstance(payload, dict) and "errorMessage" in payload:
        return str(payload["errorMessage"])
    return str(cause)


def _checks(part: dict[str, Any]) -> str:
    failures = part.get("failures") or []
    return ", ".join(f"{f.get('column') or '<table>'} {f.get('check')} x{f.get('count')}" for f in failures)


def _explain(run: dict[str, Any], parts: list[dict[str, Any]], error: dict[str, Any]) -> tuple[str, str]:
    """(error type, cause): the parts' own typed errors where they recorded one, else the Catch's error."""
    rejected = [p for p in parts if p["status"] == "REJECTED"]
    failed = [p for p in parts if p["status"] == "FAILED"]
    what = f"{run.get('model')}@{run.get('model_version')}"
    if rejected:
        shown = "; ".join(
            f"{p['part']}: {_checks(p)} (report {p.get('report_uri')})" for p in rejected[:MAX_PARTS_IN_CAUSE]
        )
        more = f"; and {len(rejected) - MAX_PARTS_IN_CAUSE} more" if len(rejected) > MAX_PARTS_IN_CAUSE else ""
        return (
            "DataContractViolation",
            f"{len(rejected)} of {len(parts)} parts broke the data contract of {what}: {shown}{more}",
        )
    if failed:
        first = failed[0]
        shown = "; ".join(
            f"{p['part']}: {p.get('error_type')}: {p.get('error_message')}" for p in failed[:MAX_PARTS_IN_CAUSE]
        )
        return str(first.get("error_type") or "SlipwayError"), f"{len(failed)} of {len(parts)} parts failed: {shown}"
    return str(error.get("Error") or "SlipwayError"), _message(error.get("Cause"))
