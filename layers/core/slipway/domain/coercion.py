"""Casting uploaded columns to contract types row by row, so each unreadable value is counted, not fatal."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from slipway.domain.categories import DECIMAL_PATTERN, canonical_category
from slipway.domain.values import (
    FALSE_WORDS,
    FLOAT_PATTERN,
    INT_PATTERN,
    NAIVE_TIMESTAMP_PATTERN,
    TRUE_WORDS,
    ZONED_TIMESTAMP_PATTERN,
)

__all__ = [
    "ARROW_TYPES",
    "CATEGORY_TYPE",
    "canonical_categories",
    "coerce_column",
    "nan_to_null",
    "stored_type_fits",
    "to_numpy_mask",
    "values_view",
]

# A category is its canonical text, kept dictionary-encoded: each distinct value once, a code per row. The text of
# every row is made only where it is stored (``tables.canonical_parquet`` writes plain text).
CATEGORY_TYPE = pa.dictionary(pa.int32(), pa.string())
ARROW_TYPES: dict[str, pa.DataType] = {
    "int": pa.int64(),
    "float": pa.float64(),
    "string": pa.string(),
    "category": CATEGORY_TYPE,
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}

# The patterns and words are slipway.domain.values', the rule serving applies to one JSON value at a time.
_TRUE, _FALSE = pa.array(TRUE_WORDS), pa.array(FALSE_WORDS)

type Column = pa.ChunkedArray


def to_numpy_mask(mask: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """An Arrow boolean array as a numpy bool array, nulls as False."""
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


def values_view(chunk: pa.Array) -> np.ndarray:
    """A fixed-width chunk's values as a zero-copy numpy view, null rows included (their slots hold anything)."""
    dtype = np.dtype(chunk.type.to_pandas_dtype())
    return np.frombuffer(chunk.buffers()[1], dtype)[chunk.offset : chunk.offset + len(chunk)]


def _null_where(failed: np.ndarray, col: Column) -> Column:
    return pc.if_else(pa.array(failed), pa.scalar(None, col.type), col)


def _nan_as_null(chunk: pa.Array) -> pa.Array:
    """A float chunk whose NaN values are null: a new validity bitmap over the same data (a null row's slot may
    hold anything, here the NaN), so no value is copied."""
    nan = pc.fill_null(pc.is_nan(chunk), False)
    valid = pc.and_not(pc.is_valid(chunk), nan)  # no nulls: its bitmap is the new validity, from offset 0
    width = chunk.type.bit_width // 8
    data = chunk.buffers()[1].slice(chunk.offset * width, len(chunk) * width)
    return pa.Array.from_buffers(chunk.type, len(chunk), [valid.buffers()[1], data], offset=0)


def nan_to_null(col: Column) -> Column:
    """Float NaN means missing, as in pandas; make it an Arrow null so that every check agrees."""
    if not pa.types.is_floating(col.type):
        return col
    # np.min propagates NaN: one vectorised pass over zero-copy views of the data (a null row's slot may hold
    # anything, so a NaN there only costs the conversion below, which leaves nulls null)
    chunks = [_nan_as_null(c) if len(c) > c.null_count and np.isnan(np.min(values_view(c))) else c for c in col.chunks]
    return pa.chunked_array(chunks, col.type)


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
    zoned = to_numpy_mask(pc.match_substring_regex(strings, ZONED_TIMESTAMP_PATTERN))
    naive, naive_failed = _cast_parsed(_null_where(zoned, strings), NAIVE_TIMESTAMP_PATTERN, pa.timestamp("us"))
    aware, aware_failed = _cast_parsed(_null_where(~zoned, strings), ZONED_TIMESTAMP_PATTERN, ARROW_TYPES["timestamp"])
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
    if col_type == "string":
        return col.cast(target), None
    strings = pc.utf8_trim_whitespace(col)
    if col_type == "int":
        return _cast_parsed(pc.replace_substring_regex(strings, r"^\+", ""), INT_PATTERN, target)
    if col_type == "float":
        parsed, failed = _cast_parsed(strings, FLOAT_PATTERN, target)
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


def _canonical_dictionary(values: pa.Array) -> tuple[pa.Array, bool]:
    """``canonical_category`` of each distinct value (a dictionary's few): text is kept unless it is a decimal
    number, numbers and booleans become their canonical text, NaN is null. The flag: the text was kept as is."""
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        decimal = pc.fill_null(pc.match_substring_regex(values, DECIMAL_PATTERN), False)
        values = values.cast(pa.string())
        if not pc.any(decimal).as_py():
            return values, True
        canonical = [canonical_category(v) for v in pc.filter(values, decimal).to_pylist()]
        return pc.replace_with_mask(values, decimal, pa.array(canonical, pa.string())), False
    values = nan_to_null(pa.chunked_array([values])).combine_chunks()
    return pa.array([None if v is None else canonical_category(v) for v in values.to_pylist()], pa.string()), False


def _coded(chunk: pa.Array) -> pa.DictionaryArray:
    """A chunk as a dictionary of canonical category text, each distinct text once; rows whose value is missing
    are null codes."""
    built = not pa.types.is_dictionary(chunk.type)
    encoded = pc.dictionary_encode(chunk) if built else chunk
    dictionary, kept = _canonical_dictionary(encoded.dictionary)
    indices = encoded.indices if encoded.indices.type == pa.int32() else encoded.indices.cast(pa.int32())
    # a dictionary built here holds distinct values; a file's is checked (it costs one pass over its values)
    if dictionary.null_count or not ((built and kept) or len(pc.unique(dictionary)) == len(dictionary)):
        # NaN in a float dictionary (its rows are missing values), or two values with one canonical text
        # ("1.0" and "1", -0.0 and 0.0): one code per text, a null code for a missing value
        distinct = pc.unique(dictionary.drop_null())
        indices = pc.take(pc.index_in(dictionary, value_set=distinct), indices)
        dictionary = distinct
    return pa.DictionaryArray.from_arrays(indices, dictionary)


def canonical_categories(col: Column) -> Column:
    """A category column as dictionary-encoded canonical text (``canonical_category``), so that a float column's
    1.0 (Parquet) and its CSV text "1.0" are both "1". The rule runs over each chunk's distinct values (the
    dictionary a Parquet file already holds, or one built here), never row by row; checks on the codes judge
    each distinct value once. Each chunk's dictionary holds each text once (chunks' dictionaries may differ)."""
    return pa.chunked_array([_coded(c) for c in col.chunks], CATEGORY_TYPE)


def coerce_column(col: Column, col_type: str) -> tuple[Column, np.ndarray | None]:
    """Cast ``col`` to the contract type's Arrow type.

    Values that cannot be read as that type become null and are flagged in the returned numpy
    mask (None when every value was readable). Float NaN becomes null; naive timestamps are UTC; categories
    are canonical text (numbers in their shortest form: 1.0 and "1.0" are "1"), dictionary-encoded.
    """
    target, source = ARROW_TYPES[col_type], col.type
    if col_type == "category" and not pa.types.is_nested(source):
        return canonical_categories(col), None
    if pa.types.is_dictionary(source):
        col, source = col.cast(source.value_type), source.value_type
    col = nan_to_null(col)
    if source == target:
        return col, None
    if pa.types.is_string(source) or pa.types.is_large_string(source):
        return _from_text(col, col_type)
    numeric = pa.types.is_integer(source) or pa.types.is_floating(source)
    if col_type == "string" and not pa.types.is_nested(source):
        return col.cast(target), None
    if col_type == "float" and (numeric or pa.types.is_boolean(source)):
        return col.cast(target, safe=False), None
    if col_type == "int" and (numeric or pa.types.is_boolean(source)):
        return _to_int(col)
    if col_type == "bool" and numeric:
        failed = to_numpy_mask(pc.and_(pc.is_valid(col), pc.invert(pc.is_in(col, value_set=pa.array([0, 1], source)))))
        truth = pc.not_equal(col, pa.scalar(0, source))  # a bare 0 would be cast to int64, which uint64 overflows
        return pc.if_else(pa.array(failed), pa.scalar(None, pa.bool_()), truth), failed
    if col_type == "timestamp" and (pa.types.is_timestamp(source) or pa.types.is_date(source)):
        if pa.types.is_date(source) or source.tz is None:
            col = col.cast(pa.timestamp("us"), safe=False)  # naive instants are taken as UTC
        return col.cast(target, safe=False), None
    return pa.chunked_array([pa.nulls(len(col), target)]), to_numpy_mask(pc.is_valid(col))
