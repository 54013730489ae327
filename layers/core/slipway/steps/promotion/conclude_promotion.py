"""End a promotion that went its way: production moves to the new version (after a healthy canary, or at once
for a first deployment) with the challenger cleared, or the challenger is cleared and production left as it
was after an unhealthy canary (``PromotionRolledBack`` on the event bus with the reasons). Every move is
conditional on the version the promotion expects there; the lock is released last."""

from __future__ import annotations

from typing import Any

from slipway.contracts.promotion import ConcludePromotionRequest, PromotionResult
from slipway.errors import InvalidEvent
from slipway.ports import Deps
from slipway.stores.promotions import ensure_alias, record, release_lock

SOURCE = "slipway.promotion"


def conclude_promotion(deps: Deps, request: ConcludePromotionRequest) -> PromotionResult:
    promotion, promoted, action = request.promotion, request.promoted, request.action
    model, version, champion = promotion.model, promoted.version, promoted.champion
    where = f"{promotion.source_env} {promotion.ref} (promotion {promotion.id}, requested by {promotion.requested_by})"
    status = "SUCCEEDED"
    if action == "promote":
        reason = f"canary healthy: production {champion} → {version}, from {where}"
        ensure_alias(
            deps, model, "production", version, expected=champion, reason=reason, execution=promotion.execution_arn
        )
        ensure_alias(
            deps, model, "challenger", None, expected=version, reason=reason, execution=promotion.execution_arn
        )
    elif action == "direct":
        reason = f"first deployment in {deps.settings.env}: no champion, promoted without a canary, from {where}"
        ensure_alias(
            deps, model, "production", version, expected=None, reason=reason, execution=promotion.execution_arn
        )
    elif action == "rollback":
        if request.verdict is None:
            raise InvalidEvent(
                "a rollback needs the canary's verdict", {"errors": [{"field": "verdict", "message": "missing"}]}
            )
        reason = f"canary unhealthy, rolled back ({'; '.join(request.verdict.reasons)}), from {where}"
        ensure_alias(
            deps, model, "challenger", None, expected=version, reason=reason, execution=promotion.execution_arn
        )
        status = "ROLLED_BACK"
    detail: dict[str, Any] = {
        "model": model,
        "env": deps.settings.env,
        "version": version,
        "champion": champion,
        "promotion": promotion.id,
        "source": f"{promotion.source_env} {promotion.ref}",
        "requested_by": promotion.requested_by,
    }
    if promotion.retraining is not None:  # retrain-and-promote: VersionPromoted's rule takes it to the next environment
        detail["retraining"] = promotion.retraining.model_dump(mode="json")
    if status == "ROLLED_BACK":
        assert request.verdict is not None
        detail.update(reasons=request.verdict.reasons, report=request.verdict.report_uri)
        deps.events.put(SOURCE, "PromotionRolledBack", detail)
    else:
        deps.events.put(SOURCE, "VersionPromoted", {**detail, "how": action})
    production = version if status == "SUCCEEDED" else champion
    record(
        deps, promotion.id, status=status, step="Done", waiting_for=None, production=production, ended_at=deps.now_iso()
    )
    release_lock(deps, model, promotion.id)
    return PromotionResult(
        status=status,  # type: ignore[arg-type]  # one of the statuses the machine concludes with
        model=model,
        version=version,
        production=production,
        target_env=deps.settings.env,
    )
