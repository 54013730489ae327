"""`slipway promote|approve|reject|promotions|rollback`: start a promotion in the target environment (its
promotion machine pulls the version from the source), answer an approval a promotion waits for, list
promotions (status, step, who or what they wait for), and move production back in one recorded call."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from rich.console import Group
from rich.markup import escape
from rich.table import Table

from slipway import layout
from slipway.errors import ConflictError, NotFound
from slipway.stores.promotions import claim_approval, list_promotions, pending_approvals, withdraw_answer
from slipway.stores.registry import ModelRegistry, parse_ref
from slipway.stores.runs import get_run, update_run
from slipway_cli.commands import public
from slipway_cli.serving import principal
from slipway_cli.target import Target

__all__ = [
    "SOURCE_OF",
    "Started",
    "answer",
    "execution_name",
    "follow",
    "promotions_view",
    "rollback",
    "start",
]

STATE_MACHINE_OUTPUT = "PromotionStateMachineArn"
# A version moves dev → staging → prod; dev releases its own versions in place (canary, approval if asked).
SOURCE_OF = {"dev": "dev", "staging": "dev", "prod": "staging"}
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def execution_name(ref: str, source: str, now: datetime | None = None) -> str:
    """``promote-<model>-<selector>-from-<env>-<UTC time>-<6 hex>``, within Step Functions' 80 characters."""
    model, selector = parse_ref(ref)
    at = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    digest = hashlib.sha256(f"{ref}:{source}:{at}".encode()).hexdigest()[:6]
    what = _UNSAFE.sub("-", f"{model}-{selector}").strip("-")[:36]
    return f"promote-{what}-from-{source}-{at[:15]}Z-{digest}"


class Started:
    def __init__(self, target: Target, name: str, arn: str) -> None:
        self.target, self.name, self.arn = target, name, arn

    def describe(self) -> dict[str, Any]:
        return self.target.client("stepfunctions").describe_execution(executionArn=self.arn)  # type: ignore[no-any-return]

    def record(self) -> dict[str, Any]:
        return get_run(self.target.deps, self.name) or {}


def start(target: Target, ref: str, source: str, reason: str) -> Started:
    """Start the target environment's promotion machine on ``ref`` of ``source``, as the caller."""
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
    arn = target.outputs.get(STATE_MACHINE_OUTPUT)
    if not arn:
        raise LookupError(f"the slipway-{target.env} stack has no {STATE_MACHINE_OUTPUT} output")
    name = execution_name(ref, source)
    request = {"ref": ref, "source_env": source, "requested_by": principal(target), "reason": reason}
    started = target.client("stepfunctions").start_execution(stateMachineArn=arn, name=name, input=json.dumps(request))
    return Started(target, name, str(started["executionArn"]))


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
    """Approve or reject the promotion of ``model`` waiting in the target environment (once)."""
    deps = target.deps
    pending = pending_approvals(deps, model, target.env)
    waiting = [a for a in pending if (get_run(deps, a["execution"]) or {}).get("status") == "WAITING_FOR_APPROVAL"]
    if not waiting:
        raise NotFound(f"no promotion of {model} waits for approval in {target.env}", {"model": model})
    approval = max(waiting, key=lambda a: str(a.get("requested_at")))
    by = principal(target)
    claimed = claim_approval(deps, approval, "APPROVED" if approve else "REJECTED", by, reason)
    decision = {"approved": approve, "by": by, "reason": reason, "at": claimed["answered_at"]}
    sfn = target.client("stepfunctions")
    try:
        if approve:
            sfn.send_task_success(taskToken=approval["token"], output=json.dumps({"required": True, **decision}))
        else:
            sfn.send_task_failure(
                taskToken=approval["token"], error="ApprovalRejected", cause=f"rejected by {by}: {reason}"
            )
    except ClientError as e:
        withdraw_answer(deps, claimed, e.response.get("Error", {}).get("Code", "refused"))
        raise ConflictError(
            f"the promotion {approval['execution']} no longer waits for an answer (it timed out or ended)",
            {"execution": approval["execution"], "code": e.response.get("Error", {}).get("Code")},
        ) from e
    # The record waits no longer: a poller must not see WAITING_FOR_APPROVAL again and answer twice. Only
    # while it still waits: the machine's next step may have written its own status already.
    try:
        deps.table.update(
            *layout.run_key(approval["execution"]),
            {"approval": decision, "status": "APPROVED" if approve else "REJECTED"},
            expect={"status": "WAITING_FOR_APPROVAL"},
        )
    except ConflictError:
        update_run(deps, approval["execution"], approval=decision)
    answered = {"model": model, "env": target.env, "promotion": approval["execution"], "version": approval["version"]}
    return answered | {"execution_arn": approval.get("execution_arn")} | decision


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
    """Production back to the version it pointed at before its last move, as the caller, in one logged move."""
    registry = ModelRegistry.of(target.deps)
    was, now = registry.rollback_production(model, actor=principal(target), reason=reason)
    return {"model": model, "env": target.env, "from": was, "to": now, "reason": reason}
