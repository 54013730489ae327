"""The runs page's table: the columns a person chose, rows filtered by model, status and algorithm, a page at a time
from the newest-first runs listing (``RUNS`` on GSI1). Every choice is a query parameter, so a link to the page is
the page. The listing holds runs of every model; its items carry model and status, not the winning algorithm (the
evaluate step records the winner's index, ``best_candidate``), which costs one GetItem of that candidate per run
considered: a page reads at most ``EXAMINED`` listing items and ``LOOKUPS`` candidates, and goes on from there."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, get_args

from slipway import layout
from slipway.spec.training import Algorithm
from slipway.stores import runs
from slipway.stores.promotions import TERMINAL
from slipway.stores.registry import ModelRegistry
from slipway_cli.commands import public
from slipway_cli.console.history import BadQuery
from slipway_cli.target import Target

__all__ = ["ALGORITHMS", "COLUMNS", "DEFAULT_COLUMNS", "STATUSES", "Filters", "runs_listing"]

PAGE = 25  # rows a page shows
CHUNK = 100  # listing items one query reads
EXAMINED = 400  # listing items a page reads at most before it stops and offers the next page
LOOKUPS = 50  # winning candidates a page reads at most (the algorithm column or filter)

# column → its header; the run itself is always the row's header
COLUMNS = {
    "kind": "kind",
    "model": "model",
    "status": "status",
    "algorithm": "algorithm",
    "started": "started",
    "ended": "ended",
    "version": "version",
    "dataset": "dataset",
    "spec": "spec",
    "metrics": "test metrics",
    "outcome": "outcome",
}
DEFAULT_COLUMNS = ("kind", "model", "status", "started", "ended", "version", "outcome")  # none costs a read per row
STATUSES = ("RUNNING", "WAITING_FOR_APPROVAL", *sorted(TERMINAL))
ALGORITHMS: tuple[str, ...] = get_args(Algorithm)


@dataclass(frozen=True)
class Filters:
    """What the page was asked for: each a query parameter (``col`` repeated, one per column shown)."""

    model: str | None = None
    status: str | None = None
    algorithm: str | None = None
    after: str | None = None
    columns: tuple[str, ...] = DEFAULT_COLUMNS

    @classmethod
    def parse(cls, params: Any) -> Filters:
        """From the request's query parameters; BadQuery naming the one that no form of the page sends."""
        status = params.get("status") or None
        if status is not None and status not in STATUSES:
            raise BadQuery(f"status: {status!r} is not one of {', '.join(STATUSES)}", {"field": "status"})
        algorithm = params.get("algorithm") or None
        if algorithm is not None and algorithm not in ALGORITHMS:
            raise BadQuery(f"algorithm: {algorithm!r} is not one of {', '.join(ALGORITHMS)}", {"field": "algorithm"})
        chosen = params.getlist("col")
        unknown = [c for c in chosen if c not in COLUMNS]
        if unknown:
            raise BadQuery(f"col: {unknown[0]!r} is not one of {', '.join(COLUMNS)}", {"field": "col"})
        columns = tuple(c for c in COLUMNS if c in chosen) if chosen else DEFAULT_COLUMNS
        return cls(params.get("model") or None, status, algorithm, params.get("after") or None, columns)


def _winner(target: Target, run: dict[str, Any]) -> str | None:
    """The algorithm of the run's winning candidate (None for a promotion, or a run that chose none)."""
    if run.get("best_candidate") is None:
        return None
    found = target.deps.table.get(*layout.candidate_key(str(run["run_id"]), int(run["best_candidate"])))
    return str(found["algorithm"]) if found and found.get("algorithm") else None


def runs_listing(target: Target, filters: Filters) -> dict[str, Any]:
    """A page of runs and promotions, newest first, that pass the filters; the cursor of the next page (the last row
    shown when the page is full, else the last item read); the models to filter by."""
    deps = target.deps
    start = None
    if filters.after is not None:
        last = runs.get_run(deps, filters.after)
        if last is None:
            raise BadQuery(f"after: no run {filters.after!r} in {target.env}", {"field": "after"})
        start = layout.page_key(last, layout.GSI1)
    wants_algorithm = filters.algorithm is not None or "algorithm" in filters.columns
    rows: list[dict[str, Any]] = []
    examined = lookups = 0
    cursor: str | None = None
    while cursor is None or (len(rows) < PAGE and examined < EXAMINED and lookups < LOOKUPS):
        chunk = deps.table.query(layout.RUNS[0], index=layout.GSI1, newest_first=True, limit=CHUNK, start_after=start)
        for n, item in enumerate(chunk):
            examined += 1
            cursor = str(item["run_id"])
            if _passes(item, filters):
                algorithm = None
                if wants_algorithm and item.get("best_candidate") is not None:
                    lookups += 1
                    algorithm = _winner(target, item)
                if filters.algorithm is None or algorithm == filters.algorithm:
                    rows.append({**public(item), "algorithm": algorithm})
            if len(rows) == PAGE or lookups >= LOOKUPS:
                ended = len(chunk) < CHUNK and n == len(chunk) - 1
                return _page(target, filters, rows, None if ended else cursor, examined)
        if len(chunk) < CHUNK:  # the end of the listing
            return _page(target, filters, rows, None, examined)
        start = layout.page_key(chunk[-1], layout.GSI1)
    return _page(target, filters, rows, cursor, examined)


def _passes(item: dict[str, Any], filters: Filters) -> bool:
    return (filters.model is None or item.get("model") == filters.model) and (
        filters.status is None or item.get("status") == filters.status
    )


def _page(
    target: Target, filters: Filters, rows: list[dict[str, Any]], cursor: str | None, examined: int
) -> dict[str, Any]:
    return {
        "runs": rows,
        "next": cursor,
        "examined": examined,
        "filters": filters,
        "models": ModelRegistry.of(target.deps).model_names(),
        "columns": COLUMNS,
        "statuses": STATUSES,
        "algorithms": ALGORITHMS,
    }
