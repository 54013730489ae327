"""The run item (``RUN#<execution name>`` / ``META``): what a pipeline run used and how it ended."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from slipway.composition import Container
from slipway.domain.keys import run_key


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def start_run(c: Container, run_id: str, **fields: Any) -> None:
    """Mark a run RUNNING (first write wins the start time; a retried step keeps it)."""
    pk, sk = run_key(run_id)
    existing = c.table.get(pk, sk)
    started = existing["started_at"] if existing and "started_at" in existing else now_iso()
    c.table.update(
        pk,
        sk,
        {
            "run_id": run_id,
            "status": "RUNNING",
            "started_at": started,
            "GSI1PK": "RUNS",
            "GSI1SK": f"{started}#{run_id}",
            **fields,
        },
    )


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
