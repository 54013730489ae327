"""Per-column profile of a dataset version: its summary for people and the drift reference for later."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from slipway.spec import ColumnSpec, DataContract

__all__ = [
    "QUANTILES",
    "TOP_CATEGORIES",
    "bin_fractions",
    "category_key",
    "decile_edges",
    "numeric_profile",
    "profile_table",
]

QUANTILES: dict[str, float] = {"p01": 0.01, "p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95, "p99": 0.99}
TOP_CATEGORIES = 50


def category_key(value: Any) -> str:
    """The JSON key of a categorical value (``True`` -> ``"true"``), shared with drift."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_DECILES = np.linspace(0.0, 1.0, 11)


def _sorted_quantiles(ordered: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """numpy's default ("linear") quantiles, read off an already sorted array."""
    position = probs * (ordered.size - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, ordered.size - 1)
    return np.asarray(ordered[low] + (ordered[high] - ordered[low]) * (position - low))


def _edges(ordered: np.ndarray) -> list[float]:
    # Edges are data values (numpy's "lower" quantiles), so ties merge bins instead of
    # inventing edges between two integers.
    edges = np.unique(ordered[np.floor(_DECILES * (ordered.size - 1)).astype(np.int64)])
    if edges.size == 1:  # a constant column: one bin holding everything
        edges = np.repeat(edges, 2)
    return [float(e) for e in edges]


def decile_edges(values: np.ndarray) -> list[float]:
    """Up to 11 distinct edges (min, p10 ... p90, max) of about 10 equal-mass bins; ties merge bins."""
    return _edges(np.sort(values)) if values.size else []


def bin_fractions(values: np.ndarray, edges: list[float], *, is_sorted: bool = False) -> list[float]:
    """Share of ``values`` in each bin ``[edges[i], edges[i+1])`` (the last bin closed).

    Values beyond the outer edges count in the first or last bin, so that drift on new data
    is measured against the same bins as the reference.
    """
    bins = len(edges) - 1
    if bins < 1 or values.size == 0:
        return [0.0] * max(bins, 0)
    inner = np.asarray(edges[1:-1], dtype=np.float64)
    if is_sorted:
        below = np.searchsorted(values, inner, side="left")  # values left of each inner edge
        counts = np.diff(np.concatenate(([0], below, [values.size])))
    else:
        counts = np.bincount(np.searchsorted(inner, values, side="right"), minlength=bins)
    return [float(c) for c in counts / values.size]


def _finite(col: pa.ChunkedArray) -> np.ndarray:
    values = np.asarray(col.drop_null().to_numpy(), dtype=np.float64)
    return values[np.isfinite(values)] if pa.types.is_floating(col.type) else values


def _numeric(col: pa.ChunkedArray) -> dict[str, Any]:
    values = np.sort(_finite(col))  # one fast sort gives every quantile and bin count
    profile: dict[str, Any] = {"kind": "numeric", "count": int(values.size), "nulls": len(col) - int(values.size)}
    if values.size == 0:
        none = dict.fromkeys(("min", "max", "mean", "std"))
        return {**profile, **none, "quantiles": dict.fromkeys(QUANTILES), "bins": [], "bin_fractions": []}
    quantiles = _sorted_quantiles(values, np.array(list(QUANTILES.values())))
    bins = _edges(values)
    return {
        **profile,
        "min": float(values[0]),
        "max": float(values[-1]),
        "mean": float(values.mean()),
        "std": float(values.std()),  # population standard deviation (ddof=0)
        "quantiles": {name: float(q) for name, q in zip(QUANTILES, quantiles, strict=True)},
        "bins": bins,
        "bin_fractions": bin_fractions(values, bins, is_sorted=True),
    }


def numeric_profile(values: np.ndarray) -> dict[str, Any]:
    """The profile of one array of numbers (NaN: missing), as a numeric column's: what drift compares scores with."""
    return _numeric(pa.chunked_array([pa.array(np.asarray(values, dtype=np.float64), from_pandas=True)]))


def _categorical(col: pa.ChunkedArray) -> dict[str, Any]:
    counts = pc.value_counts(col.drop_null())
    values, freqs = counts.field("values").to_pylist(), counts.field("counts").to_numpy()
    total = int(freqs.sum())
    # most frequent first, ties by value, so that equal data gives an equal profile
    order = sorted(range(len(values)), key=lambda i: (-freqs[i], category_key(values[i])))[:TOP_CATEGORIES]
    top = {category_key(values[i]): float(freqs[i] / total) for i in order}
    return {"kind": "categorical", "count": total, "nulls": col.null_count, "distinct": len(values), "top": top}


def _timestamp(col: pa.ChunkedArray) -> dict[str, Any]:
    extremes = pc.min_max(col)
    low, high = extremes["min"].as_py(), extremes["max"].as_py()
    return {
        "kind": "timestamp",
        "count": len(col) - col.null_count,
        "nulls": col.null_count,
        "min": low.isoformat() if low is not None else None,
        "max": high.isoformat() if high is not None else None,
    }


def _hashed(col: pa.ChunkedArray) -> dict[str, Any]:
    distinct = pc.count_distinct(col, mode="only_valid").as_py()
    return {"kind": "hashed", "count": len(col) - col.null_count, "nulls": col.null_count, "distinct": distinct}


def _profile_column(spec: ColumnSpec, col: pa.ChunkedArray) -> dict[str, Any]:
    if spec.pii == "hash":
        return _hashed(col)  # counts only: the digests themselves say nothing and must not leak
    if spec.type in ("int", "float"):
        return _numeric(col)
    if spec.type == "timestamp":
        return _timestamp(col)
    return _categorical(col)


def profile_table(table: pa.Table, contract: DataContract) -> dict[str, dict[str, Any]]:
    """Profile every contract column present in ``table`` (PII-dropped ones are absent).

    Returns ``{column: profile}``, JSON-serialisable: numeric columns get count, nulls, min,
    max, mean, std, quantiles and decile bins with their fractions; string, category and bool
    columns the shares of their 50 most frequent values; timestamps their range as ISO text.
    """
    names = set(table.schema.names)
    return {
        spec.name: _profile_column(spec, table.column(spec.name)) for spec in contract.columns if spec.name in names
    }
