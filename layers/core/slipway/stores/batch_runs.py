"""Records of a batch-scoring run's parts (``layout.part_key``): one item per object under the input prefix,
written by the child that scored, skipped or rejected it, and read back once by the conclusion. The state
machine carries no per-part results, so a run of 10,000 parts stays within Step Functions' payload limit."""

from __future__ import annotations

from typing import Any, Literal

from slipway import layout
from slipway.ports import Deps

__all__ = ["PART_STATUSES", "PartStatus", "parts_of", "record_part"]

PartStatus = Literal["SCORED", "SKIPPED", "REJECTED", "FAILED"]
PART_STATUSES: tuple[PartStatus, ...] = ("SCORED", "SKIPPED", "REJECTED", "FAILED")


def record_part(deps: Deps, run_id: str, part: str, status: PartStatus, **fields: Any) -> None:
    """The part's outcome; a retried child rewrites the same item (the last attempt's outcome stands)."""
    deps.table.put(
        layout.item(layout.part_key(run_id, part), run_id=run_id, part=part, status=status, at=deps.now_iso(), **fields)
    )


def parts_of(deps: Deps, run_id: str) -> list[dict[str, Any]]:
    """Every recorded part of a run, ordered by its key under the input prefix."""
    return list(deps.table.iter_query(*layout.parts(run_id)))
