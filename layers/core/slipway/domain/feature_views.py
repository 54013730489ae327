"""Feature views, offline and online: the newest values per entity that an upload brings (what the online store
keeps), and the point-in-time join of labels to a view's history (what training sees). Both read the same
validated rows and agree on ties: of two values with the same entity and event time, the first materialised (the
earlier view version, then the earlier row) is the one kept, offline and online."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from slipway.domain.entities import encode_values, entity_text
from slipway.domain.tables import plain_values
from slipway.ports import OnlineRecord

__all__ = ["VERSION_COLUMN", "as_of_join", "newest_per_entity"]

VERSION_COLUMN = "__view_version"  # the view version each history row came from (ties: the earliest wins)
_ROW = "__row"
_HIT = "__hit"  # the history row a label row takes its values from
_EVENT = "__event_time"
_MICROS = 1_000_000


def newest_per_entity(
    table: pa.Table,
    *,
    view: str,
    entity: Sequence[str],
    entity_types: Sequence[str],
    timestamp: str,
    features: Sequence[str],
    version: int,
    ttl_s: int,
) -> list[OnlineRecord]:
    """Each entity's newest row of a validated upload (ties: the first row), as online records."""
    from slipway import layout

    if table.num_rows == 0:
        return []
    indexed = table.select([*entity, timestamp, *features]).append_column(_ROW, pa.array(range(table.num_rows)))
    order = [(k, "ascending") for k in entity] + [(timestamp, "descending"), (_ROW, "ascending")]
    ranked = indexed.sort_by(order).combine_chunks()
    first = np.zeros(ranked.num_rows, dtype=bool)  # the first row of each entity in that order: its newest
    first[0] = True
    for key in entity:
        values = ranked.column(key).chunk(0) if ranked.column(key).num_chunks else pa.array([], ranked.column(key).type)
        first[1:] |= ~pc.equal(values[1:], values[:-1]).to_numpy(zero_copy_only=False)
    newest = ranked.filter(pa.array(first))
    times = pc.cast(newest.column(timestamp), pa.int64()).to_pylist()
    records: list[OnlineRecord] = []
    for row, event_us in zip(newest.select([*entity, *features]).to_pylist(), times, strict=True):
        records.append(
            OnlineRecord(
                key=layout.online_key(view, entity_text([row[k] for k in entity], entity_types)),
                event_us=event_us,
                values=encode_values(row, features),
                version=version,
                expires_at=event_us // _MICROS + ttl_s,
            )
        )
    return records


def as_of_join(
    labels: pa.Table,
    *,
    label_time: str,
    entity: Sequence[str],
    history: pa.Table,
    timestamp: str,
    features: Sequence[str],
    ttl_s: int,
    defaults: Mapping[str, Any],
) -> dict[str, pa.ChunkedArray]:
    """For each label row, the view's values of its entity as of its time: the newest history row whose event
    time is at or before the label's and no older than the TTL (ties: the earliest view version, then row), else
    the feature's default (None: null). ``history`` holds the view's rows with ``VERSION_COLUMN``. Returns one
    column per feature, in the labels' row order, typed as the history stores it (values taken, not converted)."""
    import pandas as pd
    import pyarrow.compute as pc

    # categories as their text (validation keeps them dictionary-encoded; the history stores their values)
    left = plain_values(labels.select([*entity, label_time])).to_pandas()
    left[_ROW] = range(len(left))
    right = plain_values(history.select([*entity, timestamp, VERSION_COLUMN])).to_pandas()
    right[_HIT] = range(len(right))
    # ties on (entity, event time): the first materialised
    right = right.sort_values([VERSION_COLUMN, _HIT], kind="stable").drop_duplicates([*entity, timestamp], keep="first")
    right = right.sort_values(timestamp, kind="stable").rename(columns={timestamp: _EVENT})
    timed = left[left[label_time].notna()].sort_values(label_time, kind="stable")
    joined = pd.merge_asof(
        timed,
        right[[*entity, _EVENT, _HIT]],
        left_on=label_time,
        right_on=_EVENT,
        by=list(entity),
        direction="backward",
        allow_exact_matches=True,
        tolerance=pd.Timedelta(seconds=ttl_s),
    ).set_index(_ROW)
    hits = joined[_HIT].reindex(range(len(left)))
    index = pa.array(hits.to_numpy(dtype="float64"), from_pandas=True).cast(pa.int64())  # NaN (no value): null
    out: dict[str, pa.ChunkedArray] = {}
    for name in features:
        column = history.column(name).take(index)
        default = defaults.get(name)
        if default is not None:
            column = pc.fill_null(column, _scalar(default, column.type))
        out[name] = column
    return out


def _scalar(value: Any, kind: pa.DataType) -> pa.Scalar:
    if pa.types.is_timestamp(kind):
        from slipway.domain.timestamps import parse_timestamp

        return pa.scalar(parse_timestamp(value), type=kind)
    return pa.scalar(value, type=kind)
