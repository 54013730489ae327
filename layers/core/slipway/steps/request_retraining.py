"""A drift the policy retrains on: claim the model's retraining for its cooldown (a conditional update on the
claim as read, so of two checks racing one wins) and announce ``DriftDetected`` on the event bus, whose rule
starts the retraining (in dev; staging and prod forward it there, and dev claims it again in its own table, so
one retraining per model per cooldown holds across the three environments). The claim records the check, where
it was found and the training run it starts. Inside the cooldown nothing is sent, however many checks find drift."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from slipway import layout
from slipway.domain.run_names import run_name_for_retraining
from slipway.drift_contracts import RetrainingDecision, RetrainingRequest
from slipway.errors import ConflictError
from slipway.ports import Deps

SOURCE = "slipway.drift"
DETAIL_TYPE = "DriftDetected"


@dataclass(frozen=True)
class Claim:
    """The model's retraining claim after an attempt: ``granted`` to this check (now, or by an earlier try of
    it: ``held`` is then its item), or refused with the reason."""

    granted: bool
    until: str
    run_id: str | None
    held: dict[str, Any]
    reason: str


def claim_retraining(deps: Deps, model: str, check_id: str, version: int, cooldown_s: int, found_in: str) -> Claim:
    """Claim ``model``'s retraining for ``cooldown_s`` for the check ``check_id`` (found in ``found_in``)."""
    now = deps.clock.now()
    key = layout.retraining_key(model)
    held = deps.table.get(*key)
    if held is not None and held.get("check_id") == check_id:  # a retry of the check that claimed it
        return Claim(True, str(held["until"]), held.get("run_id"), held, "already claimed by this check")
    if held is not None and datetime.fromisoformat(str(held["until"])) > now:
        reason = (
            f"inside the cooldown: check {held.get('check_id')} ({held.get('env')}) asked a retraining at "
            f"{held.get('at')} (training run {held.get('run_id')})"
        )
        return Claim(False, str(held["until"]), None, held, reason)
    until = (now + timedelta(seconds=cooldown_s)).isoformat()
    run_id = run_name_for_retraining(model, check_id)
    claim = {"until": until, "check_id": check_id, "at": now.isoformat(), "version": version, "run_id": run_id}
    claim["env"] = found_in
    try:
        deps.table.update(*key, claim, expect={"until": held.get("until") if held else None})
    except ConflictError:
        won = deps.table.get(*key) or {}
        reason = f"check {won.get('check_id')} claimed the retraining first"
        return Claim(False, str(won.get("until", "")), None, won, reason)
    return Claim(True, until, run_id, {}, f"claimed until {until}")


def request_retraining(deps: Deps, request: RetrainingRequest) -> RetrainingDecision:
    check = request.check
    if not check.retrain or check.version is None:
        return RetrainingDecision(
            model=check.model, check_id=check.check_id, requested=False, until="", reason="the check asks no retraining"
        )
    claim = claim_retraining(deps, check.model, check.check_id, check.version, check.cooldown, deps.settings.env)
    if not claim.granted:
        return RetrainingDecision(
            model=check.model, check_id=check.check_id, requested=False, until=claim.until, reason=claim.reason
        )
    if claim.held:  # a retry of the check that claimed it: the event went (or goes) once
        return RetrainingDecision(
            model=check.model,
            check_id=check.check_id,
            requested=True,
            until=claim.until,
            event_id=claim.held.get("event_id"),
            run_id=claim.run_id,
            reason="already requested by this check",
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
    deps.table.update(*layout.retraining_key(check.model), {"event_id": event_id})
    return RetrainingDecision(
        model=check.model,
        check_id=check.check_id,
        requested=True,
        until=claim.until,
        event_id=event_id,
        run_id=claim.run_id,
        reason=f"DriftDetected sent (training run {claim.run_id}); no other retraining until {claim.until}",
    )
