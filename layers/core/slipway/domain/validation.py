"""Whole-column data-contract checks that report every failure at once, and PII handling."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from slipway.spec import ColumnSpec, DataContract, parse_timestamp

__all__ = ["ARROW_TYPES", "CheckFailure", "ValidationReport", "apply_pii", "validate_table"]

ARROW_TYPES: dict[str, pa.DataType] = {
    "int": pa.int64(),
    "float": pa.float64(),
    "string": pa.string(),
    "category": pa.string(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}
MAX_EXAMPLES = 5

_INT_RE = r"^[+-]?\d{1,19}$"
_FLOAT_RE = r"(?i)^[+-]?((\d+\.?\d*|\.\d+)(e[+-]?\d+)?|inf|infinity|nan)$"
_DATE, _TIME, _ZONE = r"\d{4}-\d{2}-\d{2}", r"[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?", r"(Z|[+-]\d{2}(:?\d{2})?)"
_NAIVE_TS_RE, _ZONED_TS_RE = f"^{_DATE}({_TIME})?$", f"^{_DATE}{_TIME}{_ZONE}$"
_TRUE, _FALSE = pa.array(["true", "t", "1", "yes", "y"]), pa.array(["false", "f", "0", "no", "n"])

Column = pa.ChunkedArray


@dataclass(frozen=True)
class CheckFailure:
    """One failed check: which column, which check, how many rows, and the first few row numbers."""

    column: str | None
    check: str
    count: int
    examples: list[int]
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, as stored in the quarantine report."""
        return asdict(self)


@dataclass
class ValidationReport:
    """Every failed check of one table against one contract; ``ok`` when there is none."""

    rows: int
    failures: list[CheckFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the table meets the contract."""
        return not self.failures

    @property
    def checks(self) -> set[tuple[str | None, str]]:
        """The failed (column, check) pairs, handy for assertions and summaries."""
        return {(f.column, f.check) for f in self.failures}

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form; ``bad_values`` sums the per-check counts."""
        return {
            "rows": self.rows,
            "ok": self.ok,
            "bad_values": sum(f.count for f in self.failures),
            "failures": [f.to_dict() for f in self.failures],
        }


def _to_numpy_mask(mask: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


def _failure(column: str | None, check: str, mask: np.ndarray, message: str) -> CheckFailure:
    rows = np.flatnonzero(mask)
    return CheckFailure(column, check, int(rows.size), [int(r) for r in rows[:MAX_EXAMPLES]], message)


def _n(count: int | np.integer, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _fmt(bound: float | str) -> str:
    return f"{bound:g}" if isinstance(bound, float) else bound


def _sample(spec: ColumnSpec, col: Column, mask: np.ndarray) -> str:
    """A few offending values for the message; PII columns never show theirs."""
    if spec.pii != "keep":
        return ""
    rows = np.flatnonzero(mask)[:3]
    return ", e.g. " + ", ".join(repr(v) for v in col.take(pa.array(rows)).to_pylist())


def _failed(ok: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Rows where a predicate is False; a null result (null input) is not a failure."""
    return ~np.asarray(pc.fill_null(ok, True).to_numpy(zero_copy_only=False), dtype=bool)


def _join(parts: list[np.ndarray | None], lengths: list[int]) -> np.ndarray | None:
    if all(p is None for p in parts):
        return None
    return np.concatenate([np.zeros(n, bool) if p is None else p for p, n in zip(parts, lengths, strict=True)])


def _text_failures(col: Column, predicate: Callable[[pa.Array], pa.Array]) -> np.ndarray | None:
    """Rows whose value fails ``predicate``, or None if none does.

    Dictionary-encoded chunks (categories from Parquet) are judged once per distinct value and
    mapped back through the codes, so a category check costs one pass over small integers.
    """
    parts: list[np.ndarray | None] = []
    for chunk in col.chunks:
        if not pa.types.is_dictionary(chunk.type):
            bad = _failed(predicate(chunk.cast(pa.string())))
            parts.append(bad if bad.any() else None)
            continue
        bad_codes = _failed(predicate(chunk.dictionary.cast(pa.string())))
        if not bad_codes.any():
            parts.append(None)
            continue
        bad = bad_codes[chunk.indices.fill_null(0).to_numpy()]
        if chunk.null_count:
            bad &= _to_numpy_mask(chunk.is_valid())
        parts.append(bad if bad.any() else None)
    return _join(parts, [len(c) for c in col.chunks])


# --- type coercion: returns the cast column and a mask of values that could not be cast -------


def _cast_parsed(strings: Column, pattern: str, target: pa.DataType) -> tuple[Column, np.ndarray]:
    """Cast text to ``target``; values not matching ``pattern`` or rejected by Arrow become failures."""
    matches = pc.fill_null(pc.match_substring_regex(strings, pattern), True)
    failed = _to_numpy_mask(pc.invert(matches))
    while True:
        candidates = pc.if_else(pa.array(failed), pa.scalar(None, strings.type), strings)
        try:
            return pc.cast(candidates, target), failed
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            # Rare: the pattern let through something Arrow rejects (e.g. 2021-02-30); find it.
            bad = [v for v in pc.unique(candidates).drop_null().to_pylist() if not _casts(v, strings.type, target)]
            failed |= _to_numpy_mask(pc.is_in(strings, value_set=pa.array(bad, strings.type)))


def _casts(value: str, source: pa.DataType, target: pa.DataType) -> bool:
    try:
        pc.cast(pa.array([value], source), target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def _text_to_timestamp(strings: Column) -> tuple[Column, np.ndarray]:
    zoned = _to_numpy_mask(pc.match_substring_regex(strings, _ZONED_TS_RE))
    naive_part = pc.if_else(pa.array(zoned), pa.scalar(None, strings.type), strings)
    zoned_part = pc.if_else(pa.array(~zoned), pa.scalar(None, strings.type), strings)
    naive, naive_failed = _cast_parsed(naive_part, _NAIVE_TS_RE, pa.timestamp("us"))
    aware, aware_failed = _cast_parsed(zoned_part, _ZONED_TS_RE, ARROW_TYPES["timestamp"])
    merged = pc.coalesce(aware, naive.cast(ARROW_TYPES["timestamp"]))
    return merged, naive_failed | aware_failed


def _coerce(col: Column, col_type: str) -> tuple[Column, np.ndarray | None]:
    """Cast ``col`` to the contract type; per-row failures become nulls and are returned as a mask."""
    target, source = ARROW_TYPES[col_type], col.type
    if pa.types.is_dictionary(source):
        col, source = col.cast(source.value_type), source.value_type
    if source == target:
        return col, None
    if pa.types.is_string(source) or pa.types.is_large_string(source):
        strings = pc.utf8_trim_whitespace(col)
        if col_type in ("string", "category"):
            return col.cast(target), None
        if col_type == "int":
            return _cast_parsed(pc.replace_substring_regex(strings, r"^\+", ""), _INT_RE, target)
        if col_type == "float":
            return _cast_parsed(strings, _FLOAT_RE, target)
        if col_type == "timestamp":
            return _text_to_timestamp(strings)
        lowered = pc.utf8_lower(strings)
        failed = _to_numpy_mask(pc.invert(pc.or_(pc.is_in(lowered, _TRUE), pc.is_in(lowered, _FALSE))))
        return pc.if_else(pa.array(failed), pa.scalar(None, pa.bool_()), pc.is_in(lowered, _TRUE)), failed
    if col_type in ("string", "category") and not pa.types.is_nested(source):
        return col.cast(target), None
    numeric = pa.types.is_integer(source) or pa.types.is_floating(source) or pa.types.is_boolean(source)
    if col_type == "float" and numeric:
        return col.cast(target, safe=False), None
    if col_type == "int" and pa.types.is_integer(source):
        try:
            return col.cast(target), None
        except pa.ArrowInvalid:  # uint64 beyond int64
            failed = _to_numpy_mask(pc.greater(col, pa.scalar(2**63 - 1, source)))
            return pc.if_else(pa.array(failed), pa.scalar(None, source), col).cast(target), failed
    if col_type == "int" and numeric:
        as_float = col.cast(pa.float64(), safe=False)
        bad = pc.or_(pc.not_equal(pc.floor(as_float), as_float), pc.greater_equal(pc.abs(as_float), 2.0**63))
        failed = _to_numpy_mask(bad) if not pa.types.is_boolean(source) else np.zeros(len(col), bool)
        if pa.types.is_floating(source):
            failed &= ~_to_numpy_mask(pc.is_nan(as_float))  # NaN is missing, not a wrong type
        kept = pc.if_else(pa.array(failed), pa.scalar(None, source), col)
        return kept.cast(target, safe=False), failed
    if col_type == "bool" and (pa.types.is_integer(source) or pa.types.is_floating(source)):
        failed = _to_numpy_mask(pc.invert(pc.is_in(col, value_set=pa.array([0, 1], source))))
        return pc.if_else(pa.array(failed), pa.scalar(None, pa.bool_()), pc.not_equal(col, 0)), failed
    if col_type == "timestamp" and (pa.types.is_timestamp(source) or pa.types.is_date(source)):
        if pa.types.is_date(source) or source.tz is None:
            col = col.cast(pa.timestamp("us"), safe=False)  # naive instants are taken as UTC
        return col.cast(target, safe=False), None
    failed = _to_numpy_mask(pc.is_valid(col))
    return pa.chunked_array([pa.nulls(len(col), target)]), failed


def _nan_to_null(col: Column) -> Column:
    if not pa.types.is_floating(col.type):
        return col
    if col.null_count == 0:
        has_nan = any(np.isnan(c.to_numpy()).any() for c in col.chunks if len(c))
    else:
        has_nan = pc.any(pc.is_nan(col)).as_py() is True
    if not has_nan:
        return col
    return pc.if_else(pc.is_nan(col), pa.scalar(None, col.type), col)


# --- value checks ------------------------------------------------------------------------------


def _bound(spec: ColumnSpec, value: float | str) -> pa.Scalar:
    if spec.type == "timestamp":
        return pa.scalar(parse_timestamp(value), ARROW_TYPES["timestamp"])
    return pa.scalar(float(value), pa.float64())


def _min_max(col: Column) -> tuple[Any, Any]:
    if col.null_count == 0 and (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
        arrays = [c.to_numpy() for c in col.chunks if len(c)]
        return min(a.min() for a in arrays), max(a.max() for a in arrays)
    result = pc.min_max(col)
    return result["min"], result["max"]


def _outside(col: Column, scalar: pa.Scalar, check: str) -> np.ndarray:
    if col.null_count == 0 and (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
        compare = np.less if check == "min" else np.greater
        return np.concatenate([compare(c.to_numpy(), scalar.as_py()) for c in col.chunks])
    return _to_numpy_mask((pc.less if check == "min" else pc.greater)(col, scalar))


def _check_bounds(spec: ColumnSpec, col: Column) -> list[CheckFailure]:
    if spec.min is None and spec.max is None or col.null_count == len(col):
        return []
    lowest, highest = _min_max(col)
    if isinstance(lowest, pa.Scalar):
        lowest, highest = lowest.as_py(), highest.as_py()
    failures = []
    for check, bound, extreme, word in (("min", spec.min, lowest, "below"), ("max", spec.max, highest, "above")):
        if bound is None:
            continue
        scalar = _bound(spec, bound)
        if extreme < scalar.as_py() if check == "min" else extreme > scalar.as_py():
            mask = _outside(col, scalar, check)
            failures.append(_failure(spec.name, check, mask, f"{_n(mask.sum(), 'value')} {word} {check} {_fmt(bound)}"))
    return failures


def _check_allowed(spec: ColumnSpec, raw: Column, col: Column) -> CheckFailure | None:
    if spec.allowed is None:
        return None
    if spec.type in ("string", "category"):
        allowed = pa.array([str(v) for v in spec.allowed], pa.string())
        bad = _text_failures(raw, lambda values: pc.is_in(values, value_set=allowed))
    else:
        bad = _failed(pc.is_in(col, value_set=pa.array(spec.allowed).cast(col.type), skip_nulls=True))
        bad &= _to_numpy_mask(pc.is_valid(col))
    if bad is None or not bad.any():
        return None
    message = f"{_n(bad.sum(), 'value')} not in {spec.allowed}{_sample(spec, col, bad)}"
    return _failure(spec.name, "allowed", bad, message)


def _check_regex(spec: ColumnSpec, raw: Column, col: Column) -> CheckFailure | None:
    if spec.regex is None:
        return None
    pattern = f"^(?:{spec.regex})$"
    bad = _text_failures(raw, lambda values: pc.match_substring_regex(values, pattern))
    if bad is None:
        return None
    message = f"{_n(bad.sum(), 'value')} not matching {spec.regex!r}{_sample(spec, col, bad)}"
    return _failure(spec.name, "regex", bad, message)


def _repeated_rows(values: pa.Array) -> np.ndarray | None:
    """Rows repeating an earlier row's value (nulls never repeat), or None if all values differ."""
    n = len(values)
    integral = pa.types.is_integer(values.type) or pa.types.is_timestamp(values.type)
    if integral and values.null_count == 0 and n:
        x = values.cast(pa.int64()).to_numpy()
        lo, hi = int(x.min()), int(x.max())
        if hi - lo < 4 * n:  # dense ids: count in an array instead of hashing
            offsets = x - lo
            if np.bincount(offsets).max() <= 1:
                return None
            first = np.full(hi - lo + 1, n, dtype=np.int64)
            np.minimum.at(first, offsets, np.arange(n))
            return first[offsets] != np.arange(n)
    encoded = pc.dictionary_encode(values)
    if len(encoded.dictionary) == n - values.null_count:
        return None
    # Arrow numbers distinct values in order of first appearance, so a row repeats an earlier
    # value exactly when its code is not above the running maximum of the codes before it.
    codes = pc.fill_null(encoded.indices, -1).to_numpy().astype(np.int64)
    previous_max = np.maximum.accumulate(np.concatenate(([-1], codes[:-1])))
    return (codes >= 0) & (codes <= previous_max)


def _check_unique(spec: ColumnSpec, col: Column) -> CheckFailure | None:
    if not spec.unique:
        return None
    repeated = _repeated_rows(col.combine_chunks())
    if repeated is None:
        return None
    message = f"{_n(repeated.sum(), 'row')} repeating an earlier value{_sample(spec, col, repeated)}"
    return _failure(spec.name, "unique", repeated, message)


def _check_column(spec: ColumnSpec, raw: Column) -> tuple[Column, list[CheckFailure]]:
    failures: list[CheckFailure] = []
    col, type_failed = _coerce(raw, spec.type)
    col = _nan_to_null(col)
    if type_failed is not None and type_failed.any():
        message = f"{_n(type_failed.sum(), 'value')} not readable as {spec.type}{_sample(spec, raw, type_failed)}"
        failures.append(_failure(spec.name, "type", type_failed, message))
    else:
        type_failed = None
    missing = col.null_count - (int(type_failed.sum()) if type_failed is not None else 0)
    if not spec.nullable and missing > 0:
        nulls = _to_numpy_mask(pc.is_null(col))
        if type_failed is not None:
            nulls &= ~type_failed
        failures.append(_failure(spec.name, "not_null", nulls, f"{_n(missing, 'null')} in a non-nullable column"))
    failures.extend(_check_bounds(spec, col))
    for check in (_check_allowed(spec, raw, col), _check_regex(spec, raw, col), _check_unique(spec, col)):
        if check is not None:
            failures.append(check)
    return col, failures


def validate_table(table: pa.Table, contract: DataContract) -> tuple[pa.Table, ValidationReport]:
    """Cast ``table`` to the contract and run every check, collecting all failures.

    The returned table has exactly the contract's columns, in order, with the contract's Arrow
    types; values that failed the type check are null, and a missing column is all null.
    """
    rows = table.num_rows
    failures: list[CheckFailure] = []
    names = table.schema.names
    declared = set(contract.names)
    for name in dict.fromkeys(names):
        count = names.count(name)
        if name not in declared or count > 1:
            extra = f"appears {count} times" if name in declared else "is not in the contract"
            failures.append(CheckFailure(name, "unexpected_column", 1, [], f"column {name!r} {extra}"))
    columns: list[Column] = []
    for spec in contract.columns:
        target = ARROW_TYPES[spec.type]
        if spec.name not in names:
            failures.append(CheckFailure(spec.name, "missing_column", 1, [], f"column {spec.name!r} is missing"))
            columns.append(pa.chunked_array([pa.nulls(rows, target)]))
            continue
        col, column_failures = _check_column(spec, table.column(names.index(spec.name)))
        columns.append(col)
        failures.extend(column_failures)
    too_few = rows < contract.min_rows
    if too_few or (contract.max_rows is not None and rows > contract.max_rows):
        bound = f"min_rows {contract.min_rows}" if too_few else f"max_rows {contract.max_rows}"
        failures.append(CheckFailure(None, "row_count", 1, [], f"{rows} rows breaks {bound}"))
    return pa.table(columns, names=contract.names), ValidationReport(rows=rows, failures=failures)


def _hash_values(values: pa.Array, salt: str) -> pa.Array:
    digests = [
        None if v is None else hashlib.sha256((salt + v).encode("utf-8")).hexdigest() for v in values.to_pylist()
    ]
    return pa.array(digests, pa.string())


def apply_pii(table: pa.Table, contract: DataContract, salt: str) -> pa.Table:
    """Drop ``pii: drop`` columns and replace ``pii: hash`` values by hex SHA-256(salt + value).

    Each distinct value is hashed once; nulls stay null; equal inputs and salt give equal output.
    Non-text values are hashed in their Arrow text form (e.g. ``"42"``).
    """
    result = table
    for spec in contract.columns:
        if spec.pii == "keep" or spec.name not in result.schema.names:
            continue
        index = result.schema.get_field_index(spec.name)
        if spec.pii == "drop":
            result = result.remove_column(index)
            continue
        encoded = pc.dictionary_encode(result.column(index).cast(pa.string()).combine_chunks())
        hashed = pc.take(_hash_values(encoded.dictionary, salt), encoded.indices)
        result = result.set_column(index, spec.name, hashed)
    return result
