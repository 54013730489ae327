"""A model's history a page at a time, newest first, each through one DynamoDB query from a cursor (the key of the
last item shown, ``MetadataTable.query(start_after=...)``): alias moves (``MODEL#m / ALIASLOG#``), the audit trail
(``AUDIT#m``) and promotions (the newest-first runs listing, read 100 runs at a time: the table lists runs of every
model under one key, so a model's promotions are found among them)."""

from __future__ import annotations

from typing import Any

from slipway import layout
from slipway.errors import SlipwayError
from slipway.ports import Deps
from slipway.stores import runs
from slipway.stores.promotions import KIND as PROMOTION
from slipway_cli.commands import public

__all__ = ["BadQuery", "Page", "alias_moves", "audit_entries", "promotions"]

PAGE = 25  # alias moves or audit entries a page shows
RUNS_READ = 100  # runs and promotions (of every model) a page of promotions reads

type Page = tuple[list[dict[str, Any]], str | None]  # the items, and the cursor of the next page (None: no more)


class BadQuery(SlipwayError):
    """A query parameter no page of this console makes (a cursor, a filter, a column): a 400 naming it."""


def _at_and_name(cursor: str, field: str) -> tuple[str, str]:
    """``<iso time>#<name>``, as a page's cursor names its last item."""
    at, sep, name = cursor.rpartition("#")
    if not sep or not at or not name or "T" not in at:
        raise BadQuery(f"{field}: {cursor!r} is not a cursor of this page (TIME#NAME)", {"field": field})
    return at, name


def alias_moves(deps: Deps, model: str, before: str | None) -> Page:
    """Alias moves (who, when, why), newest first, older than the move ``before`` names (``<at>#<alias>``)."""
    start = None
    if before is not None:
        at, alias = _at_and_name(before, "history_before")
        start = layout.page_key(layout.item(layout.alias_log_key(model, at, alias)))
    found = deps.table.query(*layout.alias_log(model), newest_first=True, limit=PAGE, start_after=start)
    moves = [public(m) for m in found]
    last = found[-1] if len(found) == PAGE else None
    return moves, (str(last["SK"]).removeprefix(layout.alias_log(model)[1]) if last else None)


def audit_entries(deps: Deps, model: str, before: str | None) -> Page:
    """Audit entries (spec pushes, answers to approvals, rollbacks), newest first, older than ``before``
    (``<at>#<kind>``)."""
    start = None
    if before is not None:
        at, kind = _at_and_name(before, "audit_before")
        start = layout.page_key(layout.item(layout.audit_key(model, at, kind)))
    found = deps.table.query(*layout.audit_trail(model), newest_first=True, limit=PAGE, start_after=start)
    entries = [public(e) for e in found]
    return entries, (str(found[-1]["SK"]) if len(found) == PAGE else None)


def promotions(deps: Deps, model: str, after: str | None) -> Page:
    """The model's promotions among the next ``RUNS_READ`` runs and promotions of the listing (every model's,
    newest first), after run ``after``; the cursor is the last run read, so the next page goes on from there
    whether or not this one found any."""
    start = None
    if after is not None:
        last = runs.get_run(deps, after)
        if last is None:
            raise BadQuery(f"promotions_after: no run {after!r} in {deps.settings.env}", {"field": "promotions_after"})
        start = layout.page_key(last, layout.GSI1)
    read = deps.table.query(layout.RUNS[0], index=layout.GSI1, newest_first=True, limit=RUNS_READ, start_after=start)
    found = [public(r) for r in read if r.get("kind") == PROMOTION and r.get("model") == model]
    return found, (str(read[-1]["run_id"]) if len(read) == RUNS_READ else None)
