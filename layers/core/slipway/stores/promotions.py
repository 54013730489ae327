"""Promotions in the target environment's table: the record of each (a run item of kind ``promotion``), the
one lock per model that keeps two promotions apart, the approval a person answers, and the alias moves a
promotion makes — each conditional on where the alias points, idempotent when a step is retried, and
undone together when the promotion fails."""

from __future__ import annotations

from typing import Any

from slipway import layout
from slipway.contracts.promotion import PromotedVersion
from slipway.errors import ConflictError, NotFound, PromotionInProgress
from slipway.ports import Deps
from slipway.spec import ModelSpec
from slipway.stores import audit
from slipway.stores.registry import ModelRegistry
from slipway.stores.runs import get_run, listing, update_run

__all__ = [
    "KIND",
    "TERMINAL",
    "acquire_lock",
    "claim_approval",
    "deployment_plan",
    "ensure_alias",
    "list_promotions",
    "pending_approvals",
    "principal",
    "record",
    "release_lock",
    "undo_alias_moves",
    "withdraw_answer",
]

KIND = "promotion"
TERMINAL = frozenset({"SUCCEEDED", "ROLLED_BACK", "REJECTED", "TIMED_OUT", "FAILED", "ABORTED"})


def principal(deps: Deps) -> str:
    """Who the promotion acts as: the promotion role (its ARN, set by the template)."""
    return deps.settings.principal or f"slipway-{deps.settings.env}-promotion"


def deployment_plan(
    deps: Deps, spec: ModelSpec, model: str, version: int, champion: int | None, *, new: bool
) -> PromotedVersion:
    """What the version's spec asks of its promotion into this environment: approval (or this environment's
    own requirement, which a spec cannot lower), canary share, bake."""
    deployment = spec.deployment_or_default
    return PromotedVersion(
        model=model,
        version=version,
        new=new,
        champion=champion,
        already_serving=champion == version,
        approval_required=deps.settings.approval_required or deployment.approval.required_for(deps.settings.env),
        approval_timeout=deployment.approval.timeout,
        canary_share=deployment.canary_share,
        bake_seconds=deployment.bake,
    )


def record(deps: Deps, promotion_id: str, **fields: Any) -> dict[str, Any]:
    """Update the promotion's record (created on first write, listed with the runs)."""
    return update_run(deps, promotion_id, kind=KIND, **listing(deps, promotion_id), **fields)


def list_promotions(deps: Deps, model: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Newest first, optionally of one model."""
    found = []
    for item in deps.table.iter_query(layout.RUNS[0], index=layout.GSI1, newest_first=True):
        if item.get("kind") == KIND and (model is None or item.get("model") == model):
            found.append(item)
            if len(found) >= limit:
                break
    return found


# ---------------------------------------------------------------- the lock


def acquire_lock(deps: Deps, model: str, promotion_id: str) -> None:
    """Take the model's promotion lock in this environment (a retry of the holder keeps it); PromotionInProgress
    naming the holder otherwise. A lock whose holder has ended (its record is terminal) is taken over."""
    key = layout.promotion_lock_key(model)
    values = {"model": model, "execution": promotion_id, "acquired_at": deps.now_iso()}
    if deps.table.put_new(layout.item(key, **values)):
        return
    holder = deps.table.get(*key)
    if holder is None:  # released between the two calls
        return acquire_lock(deps, model, promotion_id)
    if holder["execution"] == promotion_id:
        return
    ended = (get_run(deps, holder["execution"]) or {}).get("status") in TERMINAL
    if ended:
        try:
            deps.table.update(*key, values, expect={"execution": holder["execution"]})
            return
        except ConflictError:
            pass  # another promotion took it over first
    raise PromotionInProgress(
        f"promotion {holder['execution']} of {model} is under way in {deps.settings.env}; try again when it ends",
        {"model": model, "holder": holder["execution"], "since": holder.get("acquired_at")},
    )


def release_lock(deps: Deps, model: str, promotion_id: str) -> bool:
    """Release the lock if this promotion holds it (idempotent); True when it did."""
    key = layout.promotion_lock_key(model)
    holder = deps.table.get(*key)
    if holder is None or holder["execution"] != promotion_id:
        return False
    try:
        deps.table.delete(*key, expect={"execution": promotion_id})
    except ConflictError:
        return False
    return True


# ---------------------------------------------------------------- approvals


def pending_approvals(deps: Deps, model: str, env: str) -> list[dict[str, Any]]:
    return [a for a in deps.table.query(*layout.approvals(model, env)) if a.get("status") == "PENDING"]


_AUDIT_KIND = {"APPROVED": "approved", "REJECTED": "rejected", "TIMED_OUT": "approval-timed-out"}


def claim_approval(deps: Deps, approval: dict[str, Any], status: str, by: str, reason: str) -> dict[str, Any]:
    """Answer a pending approval (APPROVED, REJECTED, TIMED_OUT) once: ConflictError if it was answered."""
    if status not in ("APPROVED", "REJECTED", "TIMED_OUT"):
        raise ValueError(f"an approval is APPROVED, REJECTED or TIMED_OUT, not {status!r}")
    values = {"status": status, "answered_by": by, "answer_reason": reason, "answered_at": deps.now_iso()}
    try:
        claimed = deps.table.update(approval["PK"], approval["SK"], values, expect={"status": "PENDING"})
    except ConflictError as e:
        raise ConflictError(
            f"the approval of {approval.get('execution')} was already answered",
            {"execution": approval.get("execution")},
        ) from e
    audit.record(
        deps,
        str(approval.get("model")),
        _AUDIT_KIND[status],
        principal=by,
        reason=reason,
        execution=approval.get("execution_arn") or approval.get("execution"),
        details={"version": approval.get("version"), "env": approval.get("env")},
    )
    return claimed


def withdraw_answer(deps: Deps, claimed: dict[str, Any], why: str) -> None:
    """An answer the promotion never received (its task token was refused) goes back to PENDING, so the
    record does not say APPROVED of a promotion that never went on; the next answer, or the machine's
    own ending, closes it. Only this answer is withdrawn: a later one is left alone."""
    values = {"status": "PENDING", "answered_by": None, "answer_reason": None, "answered_at": None}
    try:
        deps.table.update(
            claimed["PK"],
            claimed["SK"],
            values | {"undelivered": f"{claimed['status']} by {claimed['answered_by']}: {why}"},
            expect={"status": claimed["status"], "answered_at": claimed["answered_at"]},
        )
    except ConflictError:
        pass  # the machine closed it meanwhile (TIMED_OUT or REJECTED on its ending)


# ---------------------------------------------------------------- alias moves


def ensure_alias(
    deps: Deps,
    model: str,
    alias: str,
    to: int | None,
    *,
    expected: int | None,
    reason: str,
    execution: str,
    weight: float | None = None,
) -> bool:
    """Move ``alias`` from ``expected`` to ``to`` (None: clear it), conditionally and logged; nothing when it is
    there already (a retried step). ConflictError, with nothing moved, when it points anywhere else. True
    when this call moved it."""
    registry = ModelRegistry.of(deps)
    current = registry.alias(model, alias)
    if current == to:
        return False
    if current != expected:
        raise ConflictError(
            f"{model}@{alias} points at {current}, not {expected}: moved by someone else during the promotion",
            {"model": model, "alias": alias, "current": current, "expected": expected},
        )
    actor = principal(deps)
    if to is None:
        registry.clear_alias(model, alias, actor=actor, reason=reason, expect_previous=expected, execution=execution)
    else:
        registry.set_alias(
            model, alias, to, actor=actor, reason=reason, weight=weight, expect_previous=expected, execution=execution
        )
    return True


def undo_alias_moves(deps: Deps, model: str, execution: str, reason: str) -> list[str]:
    """Put every alias this execution moved back where it was before the execution's first move of it, if it
    is still where the execution left it (a later move by someone else is kept, and named). Returns what it did."""
    registry = ModelRegistry.of(deps)
    moves = [e for e in registry.alias_log(model) if e.get("execution") == execution]
    done: list[str] = []
    for alias in dict.fromkeys(e["alias"] for e in moves):
        own = [e for e in moves if e["alias"] == alias]
        original, left = own[0].get("previous_version"), own[-1].get("version")
        current = registry.alias(model, alias)
        if current == original:
            continue
        if current != left:
            done.append(f"{alias} kept at {current} (moved after this promotion left it at {left})")
            continue
        try:
            ensure_alias(deps, model, alias, original, expected=left, reason=reason, execution=execution)
        except (ConflictError, NotFound) as e:
            done.append(f"{alias} not restored: {e}")
            continue
        done.append(f"{alias} {left} → {original if original is not None else 'cleared'}")
    return done
