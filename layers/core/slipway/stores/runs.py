"""Run records (``layout.run_key``): what a pipeline run used, its candidates, and how it ended."""

from __future__ import annotations

from typing import Any

from slipway import layout
from slipway.errors import ConflictError, NotFound
from slipway.ports import Deps


def listing(deps: Deps, run_id: str) -> dict[str, str]:
    """The run's start time and its place in the newest-first listing (GSI1): the first write wins,
    so a retried step or a later failure keeps them."""
    existing = get_run(deps, run_id) or {}
    started = str(existing.get("started_at") or deps.now_iso())
    return {"started_at": started, **layout.run_listing(started, run_id)}


def start_run(deps: Deps, run_id: str, **fields: Any) -> None:
    """Mark a run RUNNING with what it uses so far. A run that already ended stays ended (a step still
    running after its execution was stopped records what it did, but does not reopen the run)."""
    fields = {**listing(deps, run_id), **fields}
    try:
        deps.table.update(
            *layout.run_key(run_id), {"run_id": run_id, "status": "RUNNING", **fields}, expect={"status": None}
        )
    except ConflictError:
        update_run(deps, run_id, **fields)


def close_run_if_open(deps: Deps, run_id: str, **fields: Any) -> bool:
    """End a run that is still RUNNING (or was never recorded); False when it had already ended. For the
    endings the state machine cannot record itself: an execution stopped, timed out or failed in its own
    failure handler, reported by Step Functions' status-change event."""
    for open_state in ({"status": "RUNNING"}, {"status": None}):
        try:
            deps.table.update(
                *layout.run_key(run_id), {"run_id": run_id, **listing(deps, run_id), **fields}, expect=open_state
            )
        except ConflictError:
            continue
        return True
    return False


def update_run(deps: Deps, run_id: str, **fields: Any) -> dict[str, Any]:
    return deps.table.update(*layout.run_key(run_id), {"run_id": run_id, **fields})


def get_run(deps: Deps, run_id: str) -> dict[str, Any] | None:
    return deps.table.get(*layout.run_key(run_id))


def find_run(deps: Deps, ref: str) -> dict[str, Any]:
    """The run whose id is ``ref`` or, as in git, the only one whose id starts with it; NotFound otherwise
    (naming the candidates when the prefix is ambiguous)."""
    exact = get_run(deps, ref)
    if exact is not None:
        return exact
    matches = [r for r in deps.table.iter_query(layout.RUNS[0], index=layout.GSI1) if str(r["run_id"]).startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise NotFound(f"no run {ref!r}", {"run": ref})
    names = sorted(str(r["run_id"]) for r in matches)
    raise NotFound(f"run prefix {ref!r} is ambiguous: {', '.join(names[:5])}{' …' if len(names) > 5 else ''}")


def list_runs(deps: Deps, model: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Newest first, optionally for one model."""
    runs = []
    pk, _ = layout.RUNS
    for found in deps.table.iter_query(pk, index=layout.GSI1, newest_first=True):
        if model is None or found.get("model") == model:
            runs.append(found)
            if len(runs) >= limit:
                break
    return runs


def runs_page(deps: Deps, model: str | None, *, limit: int, after: str | None = None) -> list[dict[str, Any]]:
    """Up to ``limit`` runs, newest first, started before run ``after`` (the last of the page before), read from
    the newest-first listing from there on (optionally only one model's)."""
    start = None
    if after is not None:
        last = get_run(deps, after)
        if last is None:
            raise NotFound(f"no run {after!r}", {"run": after})
        start = layout.page_key(last, layout.GSI1)
    found: list[dict[str, Any]] = []
    pk, _ = layout.RUNS
    while len(found) < limit:  # one query of a page's size at a time: no more read than the page needs
        chunk = deps.table.query(pk, index=layout.GSI1, newest_first=True, limit=limit, start_after=start)
        found += [item for item in chunk if model is None or item.get("model") == model]
        if len(chunk) < limit:
            break
        start = layout.page_key(chunk[-1], layout.GSI1)
    return found[:limit]


def record_candidate(deps: Deps, run_id: str, index: int, **fields: Any) -> None:
    deps.table.put(layout.item(layout.candidate_key(run_id, index), run_id=run_id, index=index, **fields))


def candidates_of(deps: Deps, run_id: str) -> list[dict[str, Any]]:
    return deps.table.query(*layout.candidates(run_id))
