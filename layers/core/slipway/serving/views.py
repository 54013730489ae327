"""Feature views at prediction time: a request row may send entity keys instead of (or beside) the features a view
supplies; the missing features are fetched for every row of the request in one batched read of the online store,
values the request sends take precedence, and an entity without a valid value follows the view's rule (its default,
or a 422 naming the entity and the feature). Same rules as training's point-in-time join: a value older than the TTL
is not used, and a stored null becomes the feature's default when it has one."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from slipway import layout
from slipway.domain.entities import entity_text
from slipway.ports import OnlineStore
from slipway.serving.rows import RowFinding

__all__ = ["ViewBinding", "with_view_values"]


@dataclass(frozen=True, eq=False)  # compared as objects: one per view a served version binds
class ViewBinding:
    """What a model version recorded of a view it was trained with (``FeatureViewSpec.binding``)."""

    view: str
    entity: tuple[str, ...]
    entity_types: tuple[str, ...]
    ttl_s: int
    missing: str  # "reject" or "default"
    defaults: Mapping[str, Any]  # feature → default (None: none)

    @classmethod
    def of(cls, recorded: Mapping[str, Any], key_types: Mapping[str, str]) -> ViewBinding:
        entity = tuple(str(k) for k in recorded["entity"])
        return cls(
            view=str(recorded["view"]),
            entity=entity,
            entity_types=tuple(key_types.get(k, "string") for k in entity),
            ttl_s=int(recorded["ttl_s"]),
            missing=str(recorded.get("missing", "reject")),
            defaults=dict(recorded["features"]),
        )


def with_view_values(
    rows: Sequence[Mapping[str, Any]], bindings: Sequence[ViewBinding], online: OnlineStore, now_s: float
) -> tuple[list[Mapping[str, Any]], list[RowFinding]]:
    """Each row with the view features it does not send, from the online store (one read for the whole request);
    and what could not be filled, per row and field."""
    wanted: list[tuple[int, ViewBinding, str, list[str]]] = []  # (row, binding, store key, features to fetch)
    findings: list[RowFinding] = []
    for n, row in enumerate(rows):
        if not isinstance(row, Mapping):
            continue  # the contract check names it
        for binding in bindings:
            absent = [f for f in binding.defaults if f not in row]
            if not absent:
                continue
            keys = [row.get(k) for k in binding.entity]
            lacking = [k for k, v in zip(binding.entity, keys, strict=True) if v is None]
            if lacking:
                findings.append(
                    RowFinding(
                        n,
                        lacking[0],
                        "entity",
                        f"send {lacking[0]!r} to fetch {', '.join(absent)} from feature view "
                        f"{binding.view!r}, or send those features",
                    )
                )
                continue
            try:
                entity = entity_text(keys, binding.entity_types)
            except ValueError as e:
                findings.append(RowFinding(n, binding.entity[0], "entity", f"entity key of view {binding.view!r}: {e}"))
                continue
            wanted.append((n, binding, layout.online_key(binding.view, entity), absent))
    if not wanted:
        return list(rows), findings
    stored = online.read([key for _, _, key, _ in wanted])
    filled: list[dict[str, Any] | Mapping[str, Any]] = list(rows)
    for n, binding, key, absent in wanted:
        record = stored.get(key)
        # valid while no older than the TTL the model was trained with (the join's rule; not the item's expiry)
        valid = record is not None and record.event_us / 1_000_000 + binding.ttl_s >= now_s
        values = json.loads(record.values) if valid and record is not None else {}
        row = filled[n] = dict(filled[n])
        entity = key.split("#", 1)[1]
        for feature in absent:
            value = values.get(feature) if valid else None
            default = binding.defaults[feature]
            if value is None and default is not None:
                value = default
            elif not valid and binding.missing == "reject":
                why = "has no value for it" if record is None else "holds a value older than its TTL"
                findings.append(
                    RowFinding(
                        n,
                        feature,
                        "view",
                        f"feature view {binding.view!r} {why} for entity {entity!r}: send {feature!r} in the request",
                    )
                )
                continue
            row[feature] = value
    return filled, findings
