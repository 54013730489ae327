"""A drift the policy retrains on: claim the model's retraining for its cooldown (a conditional update on the
claim as read, so of two checks racing one wins) and announce ``DriftDetected`` on the event bus, whose rule
starts the retraining (in dev; staging and prod forward it there, and dev claims it again in its own table, so
one retraining per model per cooldown holds across the three environments). The claim records the check, where
it was found and the training run it starts. Inside the cooldown nothing is sent, however many checks find drift."""

from __future__ import annotations

from slipway import layout
from slipway.contracts.drift import RetrainingDecision, RetrainingRequest
from slipway.ports import Deps
from slipway.stores.retraining import claim_retraining

SOURCE = "slipway.drift"
DETAIL_TYPE = "DriftDetected"


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
            "dataset_version": check.dataset_version or "",
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
