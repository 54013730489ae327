"""A model version's reproductions (``layout.reproduction_key``): each ``slipway reproduce`` that asked to be
recorded — who (the caller API Gateway verified), when, where it ran, the verdict and the metrics compared. Entries
are only added, by a conditional write, through the operate route: the team roles write nothing in the table."""

from __future__ import annotations

from typing import Any

from slipway import layout
from slipway.errors import ConflictError
from slipway.ports import Deps

__all__ = ["latest", "record"]


def record(deps: Deps, model: str, version: int, principal: str, result: dict[str, Any]) -> dict[str, Any]:
    """Add one reproduction of ``model`` v``version`` (``result``: the verdict, metrics and where it ran)."""
    at = deps.now_iso()
    item = layout.item(
        layout.reproduction_key(model, version, at),
        model=model,
        version=version,
        env=deps.settings.env,
        principal=principal,
        at=at,
        **result,
    )
    if not deps.table.put_new(item):
        raise ConflictError(f"a reproduction of {model} v{version} is recorded at {at} already", {"at": at})
    return item


def latest(deps: Deps, model: str, version: int, limit: int = 5) -> list[dict[str, Any]]:
    """The version's newest reproductions, newest first (one query)."""
    return deps.table.query(*layout.reproductions(model, version), newest_first=True, limit=limit)
