"""A model's history a page at a time, newest first, each through one DynamoDB query from a cursor (the key of the last
item shown, ``MetadataTable.query(start_after=...)``): alias moves (``MODEL#m / ALIASLOG#``), the audit trail
(``AUDIT#m``) and promotions (the newest-first runs listing, read 100 runs at a time: the table lists runs of every
model under one key, so a model's promotions are found among them), drift checks (``DRIFT#m``); and the promotions
one version took part in, by the keys that name them and among the newest of the listing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from slipway import layout
from slipway.errors import SlipwayError
from slipway.ports import Deps
from slipway.stores import runs
from slipway.stores.promotions import KIND as PROMOTION
from slipway.stores.registry import ModelRegistry
from slipway_cli.commands import public
from slipway_cli.target import Target

__all__ = [
    "BadQuery",
    "Page",
    "alias_moves",
    "audit_entries",
    "drift_checks",
    "promotions",
    "release_run",
    "version_promotions",
]

PAGE = 25  # alias moves or audit entries a page shows
RUNS_READ = 100  # runs and promotions (of every model) a page of promotions reads
DRIFT_PAGE = 20  # drift checks a page shows

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


def drift_checks(deps: Deps, model: str, before: str | None) -> Page:
    """Drift checks (verdicts, drifted features, report), newest first, older than ``before`` (``<at>#<check id>``)."""
    pk, prefix = layout.drift_checks(model)
    start = None
    if before is not None:
        at, check_id = _at_and_name(before, "drift_before")
        start = layout.page_key(layout.item(layout.drift_check_key(model, at, check_id)))
    found = deps.table.query(pk, prefix, newest_first=True, limit=DRIFT_PAGE, start_after=start)
    checks = [{**public(c), "model": model} for c in found]
    return checks, (str(found[-1]["SK"]) if len(found) == DRIFT_PAGE else None)


def newest_runs(deps: Deps, after: str | None = None) -> Page:
    """The next ``RUNS_READ`` runs and promotions of the listing (every model's), newest first, after run
    ``after``; and the cursor of the next page."""
    start = None
    if after is not None:
        last = runs.get_run(deps, after)
        if last is None:
            raise BadQuery(f"promotions_after: no run {after!r} in {deps.settings.env}", {"field": "promotions_after"})
        start = layout.page_key(last, layout.GSI1)
    read = deps.table.query(layout.RUNS[0], index=layout.GSI1, newest_first=True, limit=RUNS_READ, start_after=start)
    return [public(r) for r in read], (str(read[-1]["run_id"]) if len(read) == RUNS_READ else None)


def promotions(deps: Deps, model: str, after: str | None) -> Page:
    """The model's promotions among the next ``RUNS_READ`` runs and promotions of the listing (every model's,
    newest first), after run ``after``; the cursor is the last run read, so the next page goes on from there
    whether or not this one found any."""
    read, cursor = newest_runs(deps, after)
    return [r for r in read if r.get("kind") == PROMOTION and r.get("model") == model], cursor


def release_run(model: str, version: int) -> str:
    """The promotion that releases a freshly trained version in its own environment (the training machine's
    ``StartRelease`` names it so)."""
    return f"release-{model}-v{version}"


def version_promotions(
    target: Target, others: Sequence[Target], model: str, version: int, item: dict[str, Any]
) -> list[dict[str, Any]]:
    """The promotions ``version`` took part in, newest first: here, the one that registered it (``promoted_from``)
    and its release, by their keys, and those of it among the newest ``RUNS_READ`` of the listing; in each of
    ``others`` (the environments the console reads), the one that registered it there (its ``BYRUN#`` marker), and
    those of it among their newest. A bounded read, whatever the listings hold; an environment the profile may not
    read is left out."""
    found: dict[str, dict[str, Any]] = {}
    named = [(item.get("promoted_from") or {}).get("promotion"), release_run(model, version)]
    for run_id in filter(None, named):
        record = runs.get_run(target.deps, str(run_id))
        if record is not None and record.get("kind") == PROMOTION:
            found.setdefault(str(run_id), public(record))
    here, _ = promotions(target.deps, model, None)
    for r in here:
        if r.get("target_version") == version or (
            r.get("source_env") == target.env and r.get("source_version") == version
        ):
            found.setdefault(str(r["run_id"]), r)
    for other in others:
        try:
            registry = ModelRegistry.of(other.deps)
            there = registry.version_of_run(model, layout.promoted_run_id(target.env, version))
            promoted = (registry.get_version(model, there).get("promoted_from") or {}) if there is not None else {}
            record = runs.get_run(other.deps, str(promoted["promotion"])) if promoted.get("promotion") else None
            listed, _ = promotions(other.deps, model, None)
        except (ClientError, BotoCoreError, SlipwayError):
            continue  # not readable with that profile: the page shows what this one can see
        if record is not None:
            found.setdefault(str(record["run_id"]), public(record))
        for r in listed:
            if r.get("source_env") == target.env and r.get("source_version") == version:
                found.setdefault(str(r["run_id"]), r)
    return sorted(found.values(), key=lambda r: str(r.get("started_at")), reverse=True)
