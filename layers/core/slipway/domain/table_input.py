"""Arrow columns to model input arrays with pyarrow and numpy alone: the conversions training applies to a
curated table (``features.model_input_frame`` uses these), so batch scoring feeds onnxruntime exactly what the
model was fitted on, without pandas or scikit-learn on its import path."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from slipway.domain.model_input import MISSING_DAYS, FeatureInput, input_dtype, iso_days

__all__ = ["categorical_values", "model_input_from_table", "numeric_values", "refused_missing", "timestamp_days"]

type Column = pa.ChunkedArray | pa.Array

_UNIT_PER_DAY = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}


def numeric_values(col: Column) -> np.ndarray:
    """float32, nulls NaN; booleans as 0/1."""
    if pa.types.is_boolean(col.type):
        col = col.cast(pa.int8())
    return np.asarray(col.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64).astype(np.float32)


def categorical_values(col: Column) -> np.ndarray:
    """Strings (object array), nulls as ""."""
    text = pc.fill_null(col.cast(pa.string()), "")
    return np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)


def timestamp_days(col: Column) -> np.ndarray:
    """int64 days since 1970-01-01 (floor), nulls MISSING_DAYS; from timestamps, dates or ISO text."""
    kind = col.type
    if pa.types.is_timestamp(kind):
        raw = col.cast(pa.int64())
        ticks = np.asarray(pc.fill_null(raw, 0).to_numpy(zero_copy_only=False), dtype=np.int64)
        return np.where(_nulls(raw), MISSING_DAYS, np.floor_divide(ticks, _UNIT_PER_DAY[kind.unit]))
    if pa.types.is_date(kind):
        days32 = col.cast(pa.date32()).cast(pa.int32())
        days = np.asarray(pc.fill_null(days32, 0).to_numpy(zero_copy_only=False), dtype=np.int64)
        return np.where(_nulls(days32), MISSING_DAYS, days)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_dictionary(kind):
        text = col.cast(pa.string())
        unique = pc.unique(text)
        table = np.asarray([iso_days(v) for v in unique.to_pylist()], dtype=np.int64)
        index = pc.index_in(text, value_set=unique).to_numpy(zero_copy_only=False)
        return table[np.asarray(index, dtype=np.int64)]
    raise ValueError(f"cannot read {kind} as a timestamp")


def _nulls(col: Column) -> np.ndarray:
    return np.asarray(pc.is_null(col).to_numpy(zero_copy_only=False), dtype=bool)


def refused_missing(table: pa.Table, inputs: list[FeatureInput]) -> list[str]:
    """Inputs whose fill is ``refuse`` that have a missing value in ``table`` (NaN counts as missing)."""
    return [
        i.name
        for i in inputs
        if i.refuse_missing
        and i.name in table.column_names
        and pc.any(pc.is_null(table.column(i.name), nan_is_null=True)).as_py()
    ]


_CONVERT = {"numeric": numeric_values, "categorical": categorical_values, "timestamp": timestamp_days}


def model_input_from_table(table: pa.Table, inputs: list[FeatureInput]) -> dict[str, np.ndarray]:
    """onnxruntime inputs, one ``(n, 1)`` array per model input column, from a table typed by the data contract."""
    missing = [i.name for i in inputs if i.name not in table.column_names]
    if missing:
        raise ValueError(f"the table has no column {', '.join(map(repr, missing))}")
    refused = refused_missing(table, inputs)
    if refused:
        raise ValueError(f"columns {refused!r} have missing values, and the model refuses missing values there")
    return {
        i.name: np.asarray(_CONVERT[i.kind](table.column(i.name)), dtype=input_dtype(i)).reshape(-1, 1) for i in inputs
    }
