"""The run item (``RUN#<execution name>`` / ``META``): what a pipeline run used and how it ended."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from slipway.composition import Container
from slipway.domain.keys import run_key


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def listing(c: Container, run_id: str) -> dict[str, str]:
    """The run's start time and its place in the newest-first listing (GSI1): the first write wins,
    so a retried step or a later failure keeps them."""
    existing = get_run(c, run_id) or {}
    started = str(existing.get("started_at") or now_iso())
    return {"started_at": started, "GSI1PK": "RUNS", "GSI1SK": f"{started}#{run_id}"}


def start_run(c: Container, run_id: str, **fields: Any) -> None:
    """Mark a run RUNNING with what it uses so far."""
    update_run(c, run_id, status="RUNNING", **listing(c, run_id), **fields)


def update_run(c: Container, run_id: str, **fields: Any) -> dict[str, Any]:
    pk, sk = run_key(run_id)
    return c.table.update(pk, sk, {"run_id": run_id, **fields})


def get_run(c: Container, run_id: str) -> dict[str, Any] | None:
    pk, sk = run_key(run_id)
    return c.table.get(pk, sk)


def list_runs(c: Container, model: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Newest first, optionally for one model."""
    runs = []
    for item in c.table.iter_query("RUNS", index="GSI1", newest_first=True):
        if model is None or item.get("model") == model:
            runs.append(item)
            if len(runs) >= limit:
                break
    return runs


def candidates_of(c: Container, run_id: str) -> list[dict[str, Any]]:
    return c.table.query(f"RUN#{run_id}", "CANDIDATE#")
