"""`slipway promote|approve|reject|promotions|rollback`: start a promotion in the target environment (its
promotion machine pulls the version from the source), answer an approval a promotion waits for, list
promotions (status, step, who or what they wait for), and move production back in one recorded call."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from rich.console import Group
from rich.markup import escape
from rich.table import Table

from slipway.operations.acts import SOURCE_OF
from slipway.stores.promotions import list_promotions
from slipway.stores.registry import parse_ref
from slipway.stores.runs import get_run
from slipway_cli.commands import public
from slipway_cli.serving import operate
from slipway_cli.target import Target

__all__ = ["SOURCE_OF", "Started", "answer", "follow", "promotions_view", "rollback", "start"]

TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


class Started:
    def __init__(self, target: Target, name: str, arn: str) -> None:
        self.target, self.name, self.arn = target, name, arn

    def describe(self) -> dict[str, Any]:
        return self.target.client("stepfunctions").describe_execution(executionArn=self.arn)  # type: ignore[no-any-return]

    def record(self) -> dict[str, Any]:
        return get_run(self.target.deps, self.name) or {}


def start(target: Target, ref: str, source: str, reason: str) -> Started:
    """Start the target environment's promotion machine on ``ref`` of ``source``, through its operate route (the
    caller's verified name is the promotion's requester)."""
    expected = SOURCE_OF.get(target.env)
    if expected is None:
        raise SystemExit(
            f"{target.env} takes no promotions: release in dev (from dev), promote into staging (from dev) or prod"
            " (from staging)"
        )
    if source != expected:
        raise SystemExit(f"{target.env} takes versions from {expected}, not from {source}")
    model, selector = parse_ref(ref)
    if not selector:
        raise SystemExit(f"name the version to promote: {model}@VERSION or {model}@ALIAS")
    body = {"version": selector, "source_env": source, "reason": reason}
    started = operate(target, "POST", f"/v1/models/{quote(model, safe='')}/promotions", body)
    return Started(target, str(started["promotion"]), str(started["execution_arn"]))


def follow(
    run: Started,
    *,
    stop_when_waiting: bool = True,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    timeout_s: float = 3600.0,
    interval_s: float = 0.5,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Poll until the execution ends (or, with ``stop_when_waiting``, waits for a person): (execution, record)."""
    deadline = time.monotonic() + timeout_s
    while True:
        described, record = run.describe(), run.record()
        if on_progress is not None:
            on_progress(record)
        if described["status"] in TERMINAL:
            return described, run.record()
        if stop_when_waiting and record.get("status") == "WAITING_FOR_APPROVAL":
            return described, record
        if time.monotonic() > deadline:
            raise TimeoutError(f"{run.name} still running after {timeout_s:g} s")
        time.sleep(interval_s)


def answer(target: Target, model: str, approve: bool, reason: str) -> dict[str, Any]:
    """Approve or reject the promotion of ``model`` waiting in the target environment (once), through its operate
    route: refused (Forbidden) to the person who requested it."""
    body = {"decision": "approve" if approve else "reject", "reason": reason}
    return operate(target, "POST", f"/v1/models/{quote(model, safe='')}/approval", body)


def promotions_view(targets: list[Target], model: str | None) -> tuple[Any, Any]:
    rows: list[dict[str, Any]] = []
    for target in targets:
        for item in list_promotions(target.deps, model):
            rows.append({"env": target.env, **public(item)})
    rows.sort(key=lambda r: str(r.get("started_at")), reverse=True)
    table = Table(title="promotions (newest first)" + (f": {model}" if model else ""))
    for column in ("promotion", "model", "from", "to", "status", "step", "waiting for", "started", "requested by"):
        table.add_column(column)
    for r in rows:
        source = f"{r.get('source_env', '?')} {r.get('ref', '').partition('@')[2]}"
        if r.get("source_version") is not None:
            source += f" (v{r['source_version']})"
        to = f"{r['env']}" + (f" v{r['target_version']}" if r.get("target_version") is not None else "")
        status = str(r.get("status"))
        if r.get("error"):
            status += f" ({r['error']})"
        table.add_row(
            escape(str(r["run_id"])),
            escape(str(r.get("model"))),
            escape(source),
            escape(to),
            escape(status),
            escape(str(r.get("step", ""))),
            escape(str(r.get("waiting_for") or "")),
            str(r.get("started_at", ""))[:19],
            escape(str(r.get("requested_by", ""))),
        )
    details = []
    for r in rows:
        if r.get("status") == "ROLLED_BACK" and r.get("canary_reasons"):
            details.append(f"{r['run_id']} rolled back: " + "; ".join(r["canary_reasons"]))
        elif r.get("cause") and r.get("status") not in ("SUCCEEDED", "RUNNING"):
            details.append(f"{r['run_id']} {r.get('status')}: {r['cause']}")
    return rows, Group(table, *[escape(d) for d in details])


def rollback(target: Target, model: str, reason: str) -> dict[str, Any]:
    """Production back to the version it pointed at before its last move, in one move logged with the caller's
    verified name (the operate route)."""
    return operate(target, "POST", f"/v1/models/{quote(model, safe='')}/rollback", {"reason": reason})
