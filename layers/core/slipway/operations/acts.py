"""The acts a person asks for, done in their name. ``caller`` is the identity API Gateway verified from the
request's SigV4 signature (``requestContext.authorizer.iam.userArn``), never a field of the request: it is
what the audit trail and the alias history record, what a promotion keeps as ``requested_by``, and what tells
the person who asked for a promotion from the one who approves it. The team roles write nothing in the
metadata table themselves: every entry of the trail is written here or by the machines."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from datetime import UTC, datetime
from typing import Any

from slipway import layout
from slipway.errors import ConflictError, Forbidden, NotFound, SpecError
from slipway.ports import Deps
from slipway.stores import reproductions
from slipway.stores.feature_views import push_view
from slipway.stores.promotions import claim_approval, pending_approvals, withdraw_answer
from slipway.stores.registry import ANY_PREVIOUS, ModelRegistry, parse_ref
from slipway.stores.runs import get_run, update_run
from slipway.stores.specs import push_spec

__all__ = [
    "SOURCE_OF",
    "answer_approval",
    "clear_alias",
    "execution_name",
    "move_alias",
    "person",
    "push",
    "record_reproduction",
    "rollback",
    "start_promotion",
]

# A version moves dev → staging → prod; dev releases its own versions in place (canary, approval if asked).
SOURCE_OF = {"dev": "dev", "staging": "dev", "prod": "staging"}
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def person(arn: str) -> str:
    """Who an ARN is, whatever role they act in: an assumed role's session name (the person's name, which the
    team roles' trust requires to be the IAM user's: ``sts:RoleSessionName``) or an IAM user's name, with the
    account. ``arn:aws:sts::1:assumed-role/slipway-prod-platform/alice`` → ``1:alice``."""
    account = arn.split(":")[4] if arn.count(":") >= 5 else ""
    return f"{account}:{arn.rsplit('/', 1)[-1]}"


def execution_name(ref: str, source: str, now: datetime | None = None) -> str:
    """``promote-<model>-<selector>-from-<env>-<UTC time>-<6 hex>``, within Step Functions' 80 characters."""
    model, selector = parse_ref(ref)
    at = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    digest = hashlib.sha256(f"{ref}:{source}:{at}".encode()).hexdigest()[:6]
    what = _UNSAFE.sub("-", f"{model}-{selector}").strip("-")[:36]
    return f"promote-{what}-from-{source}-{at[:15]}Z-{digest}"


def start_promotion(deps: Deps, model: str, selector: str, source_env: str, reason: str, caller: str) -> dict[str, Any]:
    """Start this environment's promotion machine on ``model@selector`` of ``source_env``, requested by the caller."""
    env = deps.settings.env
    expected = SOURCE_OF.get(env)
    if expected is None:
        raise Forbidden(f"{env} takes no promotions", {"env": env})
    if source_env != expected:
        raise Forbidden(f"{env} takes versions from {expected}, not from {source_env}", {"source_env": source_env})
    if not deps.settings.promotion_state_machine_arn:
        raise NotFound(f"{env} has no promotion machine configured", {"env": env})
    ref = f"{model}@{selector}"
    name = execution_name(ref, source_env, deps.clock.now())
    request = {"ref": ref, "source_env": source_env, "requested_by": caller, "reason": reason}
    started = deps.workflows.start(deps.settings.promotion_state_machine_arn, name, request)
    return {"promotion": name, "execution_arn": started.execution_arn, "requested_by": caller, "ref": ref}


def answer_approval(deps: Deps, model: str, approve: bool, reason: str, caller: str) -> dict[str, Any]:
    """Approve or reject the promotion of ``model`` waiting here (once). The person who requested the promotion
    may not answer it: Forbidden, nothing recorded."""
    env = deps.settings.env
    pending = pending_approvals(deps, model, env)
    waiting = [a for a in pending if (get_run(deps, a["execution"]) or {}).get("status") == "WAITING_FOR_APPROVAL"]
    if not waiting:
        raise NotFound(f"no promotion of {model} waits for approval in {env}", {"model": model})
    approval = max(waiting, key=lambda a: str(a.get("requested_at")))
    requester = str(approval.get("requested_by") or "")
    if requester and person(requester) == person(caller):
        raise Forbidden(
            f"{caller} requested promotion {approval['execution']}: another person must answer it",
            {"promotion": approval["execution"], "requested_by": requester},
        )
    claimed = claim_approval(deps, approval, "APPROVED" if approve else "REJECTED", caller, reason)
    decision = {"approved": approve, "by": caller, "reason": reason, "at": claimed["answered_at"]}
    try:
        if approve:
            deps.workflows.succeed_task(approval["token"], {"required": True, **decision})
        else:
            deps.workflows.fail_task(approval["token"], "ApprovalRejected", f"rejected by {caller}: {reason}")
    except ConflictError as e:
        withdraw_answer(deps, claimed, str(e.details.get("code", "refused")))
        raise ConflictError(
            f"the promotion {approval['execution']} no longer waits for an answer (it timed out or ended)",
            {"execution": approval["execution"], **e.details},
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
    answered = {"model": model, "env": env, "promotion": approval["execution"], "version": approval["version"]}
    return answered | {"execution_arn": approval.get("execution_arn")} | decision


def rollback(deps: Deps, model: str, reason: str, caller: str) -> dict[str, Any]:
    """Production back to the version it pointed at before its last move, in one logged move."""
    was, now = ModelRegistry.of(deps).rollback_production(model, actor=caller, reason=reason)
    return {"model": model, "env": deps.settings.env, "from": was, "to": now, "reason": reason, "by": caller}


def move_alias(
    deps: Deps,
    model: str,
    alias: str,
    version: int,
    reason: str,
    caller: str,
    *,
    weight: float | None = None,
    expect_previous: int | object | None = ANY_PREVIOUS,
) -> dict[str, Any]:
    """Point ``alias`` at ``version`` (logged); ``expect_previous`` (None: unset) makes it conditional."""
    item = ModelRegistry.of(deps).set_alias(
        model, alias, version, actor=caller, reason=reason, weight=weight, expect_previous=expect_previous
    )
    return {k: item.get(k) for k in ("alias", "version", "weight", "updated_at", "updated_by")} | {"model": model}


def clear_alias(deps: Deps, model: str, alias: str, reason: str, caller: str) -> dict[str, Any]:
    """Remove ``alias`` (logged in the same transaction)."""
    ModelRegistry.of(deps).clear_alias(model, alias, actor=caller, reason=reason)
    return {"model": model, "alias": alias, "cleared": True, "by": caller}


def push(deps: Deps, source: str, reason: str, caller: str) -> dict[str, Any]:
    """Validate and store a spec as the model's current one, audited with the caller."""
    if not source.strip():
        raise SpecError("the spec is empty", {"errors": [{"field": "spec", "message": "empty"}]})
    as_caller = dataclasses.replace(deps, settings=dataclasses.replace(deps.settings, principal=caller))
    return push_spec(as_caller, source, reason=reason)


def push_feature_view(deps: Deps, source: str, reason: str, caller: str) -> dict[str, Any]:
    """Validate and store a feature view's spec as its current one, audited with the caller."""
    if not source.strip():
        raise SpecError("the feature view is empty", {"errors": [{"field": "spec", "message": "empty"}]})
    as_caller = dataclasses.replace(deps, settings=dataclasses.replace(deps.settings, principal=caller))
    return push_view(as_caller, source, reason=reason)


def record_reproduction(deps: Deps, model: str, version: int, result: dict[str, Any], caller: str) -> dict[str, Any]:
    """Record a reproduction of ``model`` v``version`` in the caller's name, once its numbers agree with the
    registry (each ``recorded`` value is the version's own) and with its verdict (identical: no difference; within
    tolerance: none past it). ValueError (a 422) naming the first field that does not."""
    item = ModelRegistry.of(deps).get_version(model, version)
    registered = {**(item.get("test_metrics") or {}), "threshold": item.get("threshold")}
    for n, row in enumerate(result["metrics"]):
        if row["metric"] not in registered:
            raise ValueError(f"metrics[{n}].metric: v{version} of {model} records no {row['metric']!r}")
        own = registered[row["metric"]]
        if row["recorded"] != (float(own) if isinstance(own, (int, float)) else own):
            raise ValueError(f"metrics[{n}].recorded: {row['recorded']} is not v{version}'s {row['metric']} ({own})")
    diffs = [row["diff"] for row in result["metrics"]]
    largest = None if any(d is None for d in diffs) else max(diffs)
    if result["max_diff"] != largest:
        raise ValueError(f"max_diff: {result['max_diff']} is not the largest of the metrics' differences ({largest})")
    agrees = {
        "identical": largest == 0 and result["feature_set_matches"],
        "within_tolerance": largest is not None and largest <= result["tolerance"] and result["feature_set_matches"],
        "different": not (largest is not None and largest <= result["tolerance"] and result["feature_set_matches"]),
    }
    if not agrees[result["status"]]:
        raise ValueError(f"status: {result['status']!r} does not follow from the differences (largest {largest})")
    recorded = reproductions.record(deps, model, version, caller, result)
    return {k: v for k, v in recorded.items() if k not in ("PK", "SK")}
