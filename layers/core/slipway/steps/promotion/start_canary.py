"""Put the promoted version on live traffic as the ``challenger`` at the canary share, conditionally: the
challenger must be free and production still the champion this promotion was registered against."""

from __future__ import annotations

from datetime import datetime, timedelta

from slipway.contracts.promotion import CanaryStarted, StartCanaryRequest
from slipway.errors import ConflictError
from slipway.ports import Deps
from slipway.stores.promotions import ensure_alias, record
from slipway.stores.registry import ModelRegistry
from slipway.stores.runs import get_run


def start_canary(deps: Deps, request: StartCanaryRequest) -> CanaryStarted:
    promotion, promoted = request.promotion, request.promoted
    model = promotion.model
    production = ModelRegistry.of(deps).alias(model, "production")
    if production != promoted.champion:
        raise ConflictError(
            f"{model}@production moved from {promoted.champion} to {production} during the promotion",
            {"model": model, "expected": promoted.champion, "current": production},
        )
    started = str((get_run(deps, promotion.id) or {}).get("canary_started_at") or deps.now_iso())
    share = promoted.canary_share
    ensure_alias(
        deps,
        model,
        "challenger",
        promoted.version,
        expected=None,
        weight=share,
        reason=(
            f"canary: {share:.0%} of live traffic for {promoted.bake_seconds} s against production "
            f"{promoted.champion} (promotion {promotion.id} of {promotion.source_env} {promotion.ref}, "
            f"requested by {promotion.requested_by})"
        ),
        execution=promotion.execution_arn,
    )
    judged_at = (datetime.fromisoformat(started) + timedelta(seconds=promoted.bake_seconds)).isoformat()
    extra = {"approval": request.approval} if request.approval else {}
    record(
        deps,
        promotion.id,
        status="CANARY",
        step="Bake",
        canary_started_at=started,
        canary_share=share,
        waiting_for=f"the canary's bake: judged at {judged_at}",
        **extra,
    )
    return CanaryStarted(started_at=started, share=share)
