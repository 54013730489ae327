"""A model's audit trail in one environment: who pushed a spec, answered an approval or rolled production
back, when, in which execution and why (``AUDIT#<model>`` items, written after the act by the code that
acts), read together with the alias history (every alias move, logged in the move's own transaction). Entries are
only ever added, by a conditional write: none replaces another (and the team roles may not update or delete one)."""

from __future__ import annotations

from typing import Any

from slipway import layout
from slipway.errors import ConflictError
from slipway.ports import Deps, MetadataTable

__all__ = ["KINDS", "add", "entry", "record", "trail"]

KINDS = ("spec-push", "approved", "rejected", "approval-timed-out", "rollback", "alias-move")


def record(
    deps: Deps,
    model: str,
    kind: str,
    *,
    principal: str | None,
    reason: str = "",
    execution: str | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Add one entry; ``principal``: the caller's ARN (an assumed role, a user, the promotion role)."""
    item = entry(
        model,
        kind,
        at=deps.now_iso(),
        principal=principal,
        env=deps.settings.env,
        reason=reason,
        execution=execution,
        details=details,
    )
    add(deps.table, item)
    return item


def add(table: MetadataTable, item: dict[str, Any]) -> None:
    """Write a new entry; ConflictError if one is at its key already (it stays as it was)."""
    if not table.put_new(item):
        raise ConflictError(
            f"an audit entry exists at {item['PK']} {item['SK']}: entries are never replaced",
            {"pk": item["PK"], "sk": item["SK"]},
        )


def entry(
    model: str,
    kind: str,
    *,
    at: str,
    principal: str | None,
    env: str | None = None,
    reason: str = "",
    execution: str | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The table item of one entry (for code that holds a table but not the ports, as the registry does)."""
    if kind not in KINDS:
        raise ValueError(f"unknown audit kind {kind!r}; expected one of {', '.join(KINDS)}")
    return layout.item(
        layout.audit_key(model, at, kind),
        kind=kind,
        model=model,
        env=env,
        principal=principal or "unknown",
        at=at,
        reason=reason,
        execution=execution,
        details=details,
    )


def trail(deps: Deps, model: str) -> list[dict[str, Any]]:
    """Every audited act on the model, oldest first: the audit entries and the alias moves."""
    entries = [
        {k: v for k, v in e.items() if k not in ("PK", "SK")} for e in deps.table.iter_query(*layout.audit_trail(model))
    ]
    for move in deps.table.iter_query(*layout.alias_log(model)):
        entries.append(
            {
                "kind": "alias-move",
                "model": model,
                "env": deps.settings.env,
                "principal": move.get("actor"),
                "at": move.get("at"),
                "reason": move.get("reason", ""),
                "execution": move.get("execution"),
                "details": {
                    "alias": move.get("alias"),
                    "version": move.get("version"),
                    "previous_version": move.get("previous_version"),
                    **({"weight": move["weight"]} if move.get("weight") is not None else {}),
                },
            }
        )
    return sorted(entries, key=lambda e: str(e.get("at")))
