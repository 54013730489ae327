"""A refused upload (a model's or a feature view's) is copied, untouched, under the lake's ``quarantine/`` with the
report of every failed check, then its step raises the typed error Step Functions matches. A retried step finds its
run's report (written last) and writes nothing again."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from slipway.errors import DataContractViolation, SlipwayError
from slipway.objects import S3Object
from slipway.ports import Deps

__all__ = ["MAX_FAILURES_IN_CAUSE", "finding", "quarantine"]

MAX_FAILURES_IN_CAUSE = 10


def finding(check: str, message: str) -> dict[str, Any]:
    """A report with one table-level finding (nothing about the rows could be checked)."""
    failure: dict[str, Any] = {"column": None, "check": check, "count": 1, "examples": [], "message": message}
    return {"rows": 0, "ok": False, "bad_values": 0, "failures": [failure]}


def quarantine(
    deps: Deps,
    raw: S3Object,
    run_id: str,
    report: dict[str, Any],
    *,
    copy_obj: S3Object,
    report_obj: S3Object,
    subject: Mapping[str, str],
    contract: str,
    error: type[SlipwayError] = DataContractViolation,
    redact: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> NoReturn:
    """Copy ``raw`` to ``copy_obj`` and write its report (``redact``-ed) to ``report_obj`` unless a retry wrote
    them, then raise ``error``. ``subject``: what the upload was for (``{"model": …}`` or ``{"view": …}``), in the
    report; ``contract``: what it broke, in the error's message."""
    if deps.store.exists(report_obj):
        full = deps.store.get_json(report_obj)
    else:
        copy_ref = deps.store.copy(raw, copy_obj)
        full = {
            "raw_uri": raw.uri,
            "raw_version_id": raw.version_id,
            "run_id": run_id,
            **subject,
            "quarantined_copy": copy_ref.uri,
            "checked_at": deps.now_iso(),
            **(redact(report) if redact else report),
        }
        deps.store.put_json(report_obj, full)
    failures = full.get("failures", [])
    summary = "; ".join(
        f"{f.get('column') or '<table>'}: {f['check']} x{f['count']}" for f in failures[:MAX_FAILURES_IN_CAUSE]
    )
    if error is DataContractViolation:
        message = f"{raw.uri} broke {contract} ({len(failures)} failed checks): {summary}"
    else:
        message = f"{raw.uri} cannot be validated: {failures[0]['message'] if failures else summary}"
    raise error(
        message,
        {
            "report_uri": report_obj.uri,
            "quarantined_copy": copy_obj.uri,
            "failures": [{k: f.get(k) for k in ("column", "check", "count")} for f in failures[:MAX_FAILURES_IN_CAUSE]],
        },
    )
