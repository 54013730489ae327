"""The columns a model's feature views supply, joined to a validated upload as of each row's time (no value stamped
after a row's time is ever used; values older than the view's TTL are not either)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from slipway.domain.coercion import ARROW_TYPES
from slipway.domain.feature_views import as_of_join
from slipway.errors import SpecError
from slipway.ports import Deps
from slipway.spec.data import DataContract
from slipway.spec.feature_view import fit_problems
from slipway.stores.feature_views import current_view, history, latest_version

__all__ = ["join_views"]


def join_views(deps: Deps, contract: DataContract, table: pa.Table) -> tuple[pa.Table, list[dict[str, Any]]]:
    """``table`` (the upload, validated) with every view column added, in the contract's column order, and what
    each view was (its binding: keys, TTL, rule for missing values, defaults; its spec and view version)."""
    by_view = contract.columns_by_view()
    if not by_view:
        return table, []
    assert contract.timestamp is not None  # the contract requires one when columns come from views
    columns = {name: table.column(name) for name in table.column_names}
    bindings: list[dict[str, Any]] = []
    for name, features in by_view.items():
        view, spec_version = current_view(deps, name)
        problems = fit_problems(contract, view, features)
        if problems:
            raise SpecError(
                f"the model's data does not fit feature view {name!r}: {'; '.join(problems)}",
                {"view": name, "problems": problems},
            )
        latest = latest_version(deps, name)
        if latest is None:
            raise SpecError(
                f"feature view {name!r} has no data here yet: upload it under views/{name}/ in the raw bucket, "
                "then upload the labels again",
                {"view": name},
            )
        version = int(latest["version"])
        times = table.column(contract.timestamp)
        first, last = pc.min(times).as_py(), pc.max(times).as_py()
        past = None if first is None else (first - timedelta(seconds=view.ttl_seconds)).date().isoformat()
        rows = history(deps, name, version, first_day=past, last_day=None if last is None else last.date().isoformat())
        defaults = {f: view.feature(f).default for f in features}
        if rows.num_rows == 0:
            joined = {f: _all_missing(contract, f, defaults[f], table.num_rows) for f in features}
        else:
            joined = as_of_join(
                table,
                label_time=contract.timestamp,
                entity=view.entity,
                history=rows,
                timestamp=view.timestamp,
                features=features,
                ttl_s=view.ttl_seconds,
                defaults=defaults,
            )
        for feature, column in joined.items():
            columns[feature] = column.cast(ARROW_TYPES[contract.column(feature).type])
        bindings.append({**view.binding(features, spec_version), "version": version})
    ordered = [n for n in contract.names if n in columns]
    return pa.table({n: columns[n] for n in ordered}), bindings


def _all_missing(contract: DataContract, feature: str, default: Any, rows: int) -> pa.ChunkedArray:
    kind = ARROW_TYPES[contract.column(feature).type]
    if default is None:
        return pa.chunked_array([pa.nulls(rows, kind)])
    from slipway.domain.timestamps import parse_timestamp

    value = parse_timestamp(default) if pa.types.is_timestamp(kind) else default
    return pa.chunked_array([pa.array([value] * rows, kind)])
