"""Casting uploaded columns to contract types row by row, so each unreadable value is counted, not fatal."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from slipway.domain.categories import DECIMAL_PATTERN, canonical_category

__all__ = ["ARROW_TYPES", "coerce_column", "nan_to_null", "stored_type_fits", "to_numpy_mask"]

ARROW_TYPES: dict[str, pa.DataType] = {
    "int": pa.int64(),
    "float": pa.float64(),
    "string": pa.string(),
    "category": pa.string(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}

_INT_RE = r"^[+-]?\d{1,19}$"
_FLOAT_RE = r"(?i)^[+-]?((\d+\.?\d*|\.\d+)(e[+-]?\d+)?|inf|infinity|nan)$"
_DATE, _TIME, _ZONE = r"\d{4}-\d{2}-\d{2}", r"[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?", r"(Z|[+-]\d{2}(:?\d{2})?)"
_NAIVE_TS_RE, _ZONED_TS_RE = f"^{_DATE}({_TIME})?$", f"^{_DATE}{_TIME}{_ZONE}$"
_TRUE, _FALSE = pa.array(["true", "t", "1", "yes", "y"]), pa.array(["false", "f", "0", "no", "n"])

type Column = pa.ChunkedArray


def to_numpy_mask(mask: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """An Arrow boolean array as a numpy bool array, nulls as False."""
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


def _null_where(failed: np.ndarray, col: Column) -> Column:
    return pc.if_else(pa.array(failed), pa.scalar(None, col.type), col)


def nan_to_null(col: Column) -> Column:
    """Float NaN means missing, as in pandas; make it an Arrow null so that every check agrees."""
    if not pa.types.is_floating(col.type):
        return col
    if col.null_count == 0:
        has_nan = any(np.isnan(c.to_numpy()).any() for c in col.chunks if len(c))
    else:
        has_nan = pc.any(pc.is_nan(col)).as_py() is True
    return pc.if_else(pc.is_nan(col), pa.scalar(None, col.type), col) if has_nan else col


def _casts(value: str, source: pa.DataType, target: pa.DataType) -> bool:
    try:
        pc.cast(pa.array([value], source), target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def _cast_parsed(strings: Column, pattern: str, target: pa.DataType) -> tuple[Column, np.ndarray]:
    """Cast text to ``target``; values not matching ``pattern`` or rejected by Arrow become failures."""
    failed = to_numpy_mask(pc.invert(pc.fill_null(pc.match_substring_regex(strings, pattern), True)))
    while True:
        candidates = _null_where(failed, strings)
        try:
            return pc.cast(candidates, target), failed
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            # Rare: the pattern let through something Arrow rejects (e.g. 2021-02-30); find it
            # among the distinct values and retry without it.
            bad = [v for v in pc.unique(candidates).drop_null().to_pylist() if not _casts(v, strings.type, target)]
            failed |= to_numpy_mask(pc.is_in(strings, value_set=pa.array(bad, strings.type)))


def _text_to_timestamp(strings: Column) -> tuple[Column, np.ndarray]:
    # Arrow parses zoned text only into a zoned type and naive text only into a naive one.
    zoned = to_numpy_mask(pc.match_substring_regex(strings, _ZONED_TS_RE))
    naive, naive_failed = _cast_parsed(_null_where(zoned, strings), _NAIVE_TS_RE, pa.timestamp("us"))
    aware, aware_failed = _cast_parsed(_null_where(~zoned, strings), _ZONED_TS_RE, ARROW_TYPES["timestamp"])
    return pc.coalesce(aware, naive.cast(ARROW_TYPES["timestamp"])), naive_failed | aware_failed


def _text_to_bool(strings: Column) -> tuple[Column, np.ndarray]:
    lowered = pc.utf8_lower(strings)
    truthy = pc.is_in(lowered, _TRUE)
    failed = to_numpy_mask(pc.and_(pc.is_valid(lowered), pc.invert(pc.or_(truthy, pc.is_in(lowered, _FALSE)))))
    return pc.if_else(
        pa.array(failed), pa.scalar(None, pa.bool_()), pc.if_else(pc.is_valid(lowered), truthy, None)
    ), failed


def _from_text(col: Column, col_type: str) -> tuple[Column, np.ndarray | None]:
    target = ARROW_TYPES[col_type]
    if col_type in ("string", "category"):
        return col.cast(target), None
    strings = pc.utf8_trim_whitespace(col)
    if col_type == "int":
        return _cast_parsed(pc.replace_substring_regex(strings, r"^\+", ""), _INT_RE, target)
    if col_type == "float":
        parsed, failed = _cast_parsed(strings, _FLOAT_RE, target)
        return nan_to_null(parsed), failed
    if col_type == "timestamp":
        return _text_to_timestamp(strings)
    return _text_to_bool(strings)


def _to_int(col: Column) -> tuple[Column, np.ndarray | None]:
    source, target = col.type, ARROW_TYPES["int"]
    if pa.types.is_boolean(source):
        return col.cast(target), None
    if pa.types.is_integer(source):
        try:
            return col.cast(target), None
        except pa.ArrowInvalid:  # uint64 beyond int64
            failed = to_numpy_mask(pc.greater(col, pa.scalar(2**63 - 1, source)))
            return _null_where(failed, col).cast(target), failed
    # floats (NaN already null): fractions and out-of-range values are not ints
    fraction = pc.not_equal(pc.floor(col), col)
    failed = to_numpy_mask(pc.or_(fraction, pc.greater_equal(pc.abs(col), 2.0**63)))
    return _null_where(failed, col).cast(target, safe=False), failed


def stored_type_fits(stored: pa.DataType, col_type: str) -> bool:
    """Whether a typed file (Parquet) may store a column of contract type ``col_type`` as ``stored``: the same
    kind of value, any width (int8…uint64 for int; an int for a float; a timestamp of any unit or a date for
    a timestamp; text, or text dictionary, for a string). A category is a label: text or numeric codes."""
    if pa.types.is_dictionary(stored):
        stored = stored.value_type
    text = pa.types.is_string(stored) or pa.types.is_large_string(stored)
    number = pa.types.is_integer(stored) or pa.types.is_floating(stored)
    return bool(
        {
            "int": pa.types.is_integer(stored),
            "float": number,
            "bool": pa.types.is_boolean(stored),
            "timestamp": pa.types.is_timestamp(stored) or pa.types.is_date(stored),
            "string": text,
            "category": text or number,
        }[col_type]
        or pa.types.is_null(stored)
    )


def _canonical_categories(col: Column) -> Column:
    """Category text as ``canonical_category`` writes it, so that a float column's 1.0 (Parquet) and its CSV
    text "1.0" are both "1". Mapped over the distinct values only; text with no decimal number is kept as is."""
    if (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)) and not pc.any(
        pc.match_substring_regex(col, DECIMAL_PATTERN)
    ).as_py():
        return col.cast(pa.string())
    distinct = pc.unique(col).drop_null()
    mapped = pa.array([canonical_category(v) for v in distinct.to_pylist()], pa.string())
    return pc.take(mapped, pc.index_in(col, value_set=distinct))


def coerce_column(col: Column, col_type: str) -> tuple[Column, np.ndarray | None]:
    """Cast ``col`` to the contract type's Arrow type.

    Values that cannot be read as that type become null and are flagged in the returned numpy
    mask (None when every value was readable). Float NaN becomes null; naive timestamps are UTC; categories
    are canonical text (numbers in their shortest form: 1.0 and "1.0" are "1").
    """
    target, source = ARROW_TYPES[col_type], col.type
    if pa.types.is_dictionary(source):
        col, source = col.cast(source.value_type), source.value_type
    col = nan_to_null(col)
    if col_type == "category" and not pa.types.is_nested(source):
        return _canonical_categories(col), None
    if source == target:
        return col, None
    if pa.types.is_string(source) or pa.types.is_large_string(source):
        return _from_text(col, col_type)
    numeric = pa.types.is_integer(source) or pa.types.is_floating(source)
    if col_type in ("string", "category") and not pa.types.is_nested(source):
        return col.cast(target), None
    if col_type == "float" and (numeric or pa.types.is_boolean(source)):
        return col.cast(target, safe=False), None
    if col_type == "int" and (numeric or pa.types.is_boolean(source)):
        return _to_int(col)
    if col_type == "bool" and numeric:
        failed = to_numpy_mask(pc.and_(pc.is_valid(col), pc.invert(pc.is_in(col, value_set=pa.array([0, 1], source)))))
        return pc.if_else(pa.array(failed), pa.scalar(None, pa.bool_()), pc.not_equal(col, 0)), failed
    if col_type == "timestamp" and (pa.types.is_timestamp(source) or pa.types.is_date(source)):
        if pa.types.is_date(source) or source.tz is None:
            col = col.cast(pa.timestamp("us"), safe=False)  # naive instants are taken as UTC
        return col.cast(target, safe=False), None
    return pa.chunked_array([pa.nulls(len(col), target)]), to_numpy_mask(pc.is_valid(col))
