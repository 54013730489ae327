"""A drift the policy retrains on: claim the model's retraining for its cooldown (a conditional update on the
claim as read, so of two checks racing one wins) and announce ``DriftDetected`` on the event bus, whose rule
starts the retraining (in dev; staging and prod forward it there). The claim records the check and the
training run it starts. Inside the cooldown nothing is sent, however many checks find drift."""

from __future__ import annotations

from datetime import datetime, timedelta

from slipway import layout
from slipway.domain.run_names import run_name_for_retraining
from slipway.drift_contracts import RetrainingDecision, RetrainingRequest
from slipway.errors import ConflictError
from slipway.ports import Deps

SOURCE = "slipway.drift"
DETAIL_TYPE = "DriftDetected"


def request_retraining(deps: Deps, request: RetrainingRequest) -> RetrainingDecision:
    check = request.check
    if not check.retrain or check.version is None:
        return RetrainingDecision(
            model=check.model, check_id=check.check_id, requested=False, until="", reason="the check asks no retraining"
        )
    now = deps.clock.now()
    key = layout.retraining_key(check.model)
    held = deps.table.get(*key)
    if held is not None and held.get("check_id") == check.check_id:  # a retry of the check that claimed it
        return RetrainingDecision(
            model=check.model,
            check_id=check.check_id,
            requested=True,
            until=str(held["until"]),
            event_id=held.get("event_id"),
            run_id=held.get("run_id"),
            reason="already requested by this check",
        )
    if held is not None and datetime.fromisoformat(str(held["until"])) > now:
        return RetrainingDecision(
            model=check.model,
            check_id=check.check_id,
            requested=False,
            until=str(held["until"]),
            reason=(
                f"inside the cooldown: check {held.get('check_id')} asked a retraining at {held.get('at')}"
                f" (training run {held.get('run_id')})"
            ),
        )
    until = (now + timedelta(seconds=check.cooldown)).isoformat()
    run_id = run_name_for_retraining(check.model, check.check_id)
    claim = {
        "until": until,
        "check_id": check.check_id,
        "at": now.isoformat(),
        "version": check.version,
        "run_id": run_id,
        "env": deps.settings.env,
    }
    try:
        deps.table.update(*key, claim, expect={"until": held.get("until") if held else None})
    except ConflictError:
        won = deps.table.get(*key) or {}
        return RetrainingDecision(
            model=check.model,
            check_id=check.check_id,
            requested=False,
            until=str(won.get("until", "")),
            reason=f"check {won.get('check_id')} claimed the retraining first",
        )
    event_id = deps.events.put(
        SOURCE,
        DETAIL_TYPE,
        {
            "model": check.model,
            "version": check.version,
            "env": deps.settings.env,
            "check_id": check.check_id,
            "policy": check.policy,
            "reason": check.reason,
            "report_uri": check.report_uri,
            "drifted_features": check.drifted_features,
        },
    )
    deps.table.update(*key, {"event_id": event_id})
    return RetrainingDecision(
        model=check.model,
        check_id=check.check_id,
        requested=True,
        until=until,
        event_id=event_id,
        run_id=run_id,
        reason=f"DriftDetected sent (training run {run_id}); no other retraining until {until}",
    )
