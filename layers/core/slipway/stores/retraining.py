"""The model's retraining claim in this environment's table (``layout.retraining_key``): one retraining per model
per cooldown, taken by a conditional update on the claim as read, so of two drift checks racing one wins. The drift
machine's request-retraining takes it where a check found drift; dev's start-training takes it again for a drift
found in staging or prod, so the rule holds across the three environments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from slipway import layout
from slipway.domain.run_names import run_name_for_retraining
from slipway.errors import ConflictError
from slipway.ports import Deps

__all__ = ["Claim", "claim_retraining"]


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
