"""Whole-column data-contract checks that report every failure at once, and PII handling."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from slipway.domain.coercion import (
    ARROW_TYPES,
    coerce_column,
    stored_type_fits,
    to_numpy_mask,
    values_view,
)
from slipway.domain.findings import (
    MAX_EXAMPLES,
    MAX_SHOWN,
    CheckFailure,
    Finding,
    ValidationReport,
    finding_of,
    report_of,
)
from slipway.spec import ColumnSpec, DataContract, parse_timestamp

__all__ = [
    "ARROW_TYPES",
    "CheckFailure",
    "CheckedPart",
    "Finding",
    "ValidationReport",
    "apply_pii",
    "check_part",
    "repeat_finding",
    "repeated_rows",
    "report_of",
    "validate_table",
]

_DEFAULT_WORKERS = min(4, os.cpu_count() or 1)

type Column = pa.ChunkedArray


def _fmt(bound: float | str) -> str:
    return f"{bound:g}" if isinstance(bound, float) else bound


def _shown(spec: ColumnSpec, col: Column, rows: np.ndarray) -> tuple[str, ...] | None:
    """A few offending values for the message; PII columns never show theirs."""
    if spec.pii != "keep":
        return None
    return tuple(repr(col[int(r)].as_py()) for r in rows[:MAX_SHOWN])


def _failed(ok: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Rows where a predicate is False; a null result (null input) is not a failure."""
    return ~np.asarray(pc.fill_null(ok, True).to_numpy(zero_copy_only=False), dtype=bool)


def _rows(parts: list[np.ndarray]) -> np.ndarray | None:
    """Row numbers found chunk by chunk (each already offset to the column), or None when there are none."""
    found = [p for p in parts if p.size]
    return np.concatenate(found) if found else None


def _valid_at(chunk: pa.Array, rows: np.ndarray) -> np.ndarray:
    """Whether each of ``rows`` (positions in ``chunk``) holds a value, read from the validity bitmap."""
    bitmap = chunk.buffers()[0]
    if bitmap is None or not chunk.null_count:
        return np.ones(rows.size, dtype=bool)
    at = rows + chunk.offset
    return np.asarray(((np.frombuffer(bitmap, np.uint8)[at >> 3] >> (at & 7)) & 1).astype(bool))


def _codes(chunk: pa.DictionaryArray) -> np.ndarray:
    """A dictionary chunk's codes as a numpy view (a null row's code is arbitrary)."""
    indices = chunk.indices
    dtype = np.dtype(indices.type.to_pandas_dtype())
    return np.frombuffer(indices.buffers()[1], dtype)[indices.offset : indices.offset + len(indices)]


def _coded_as(codes: np.ndarray, wanted: np.ndarray, size: int) -> np.ndarray:
    """Positions whose code is one of ``wanted`` (codes into a dictionary of ``size`` values)."""
    if wanted.size <= 4:  # a compare per code over small integers beats any lookup
        found = codes == wanted[0]
        for code in wanted[1:]:
            found |= codes == code
        return np.flatnonzero(found)
    table = np.zeros(size, dtype=bool)
    table[wanted] = True
    return np.flatnonzero(table[codes])


def _null_positions(chunk: pa.Array) -> np.ndarray:
    """Positions in ``chunk`` that hold no value, ascending: only the bytes of its validity bitmap that are not
    all ones are unpacked (a few nulls among a million rows cost a scan of 125 KB)."""
    if not chunk.null_count:
        return np.zeros(0, np.int64)
    if chunk.null_count == len(chunk) or chunk.buffers()[0] is None:  # a null-typed chunk has no bitmap
        return np.arange(len(chunk))
    first = chunk.offset
    window = np.frombuffer(chunk.buffers()[0], np.uint8)[first >> 3 : (first + len(chunk) + 7) >> 3]
    holes = np.flatnonzero(window != 0xFF)
    byte, bit = np.nonzero(np.unpackbits(window[holes], bitorder="little").reshape(-1, 8) == 0)
    positions = (holes[byte] + (first >> 3)) * 8 + bit - first
    return np.asarray(positions[(positions >= 0) & (positions < len(chunk))])


def _null_rows(col: Column) -> np.ndarray:
    """The rows of ``col`` that hold no value."""
    parts, start = [], 0
    for chunk in col.chunks:
        if chunk.null_count:
            parts.append(_null_positions(chunk) + start)
        start += len(chunk)
    found = _rows(parts)
    return np.zeros(0, np.int64) if found is None else found


def _text_failures(col: Column, predicate: Callable[[pa.Array], pa.Array]) -> np.ndarray | None:
    """Rows whose value fails ``predicate``, or None if none does.

    Dictionary-encoded chunks (categories) are judged once per distinct value and the failing codes found
    among the rows' codes, so a category check costs one pass over small integers.
    """
    parts: list[np.ndarray] = []
    start = 0
    for chunk in col.chunks:
        if not pa.types.is_dictionary(chunk.type):
            rows = np.flatnonzero(_failed(predicate(chunk.cast(pa.string()))))
        else:
            dictionary = chunk.dictionary
            bad_codes = np.flatnonzero(
                _failed(predicate(dictionary.cast(pa.string()))) & to_numpy_mask(dictionary.is_valid())
            )
            rows = _coded_as(_codes(chunk), bad_codes, len(dictionary)) if bad_codes.size else bad_codes
        if rows.size:
            parts.append(rows[_valid_at(chunk, rows)] + start)
        start += len(chunk)
    return _rows(parts)


# --- value checks ------------------------------------------------------------------------------


def _bound(spec: ColumnSpec, value: float | str) -> pa.Scalar:
    if spec.type == "timestamp":
        return pa.scalar(parse_timestamp(value), ARROW_TYPES["timestamp"])
    return pa.scalar(float(value), pa.float64())


def _slot_extremes(chunk: pa.Array) -> tuple[float, float] | None:
    """(min, max) over every slot of a numeric chunk, None when it holds no value. A null row's slot holds
    anything (a NaN made null, which these ignore, or any number), so they bound the values rather than being
    their extremes: a chunk whose bound crosses is searched, and the search skips null rows. No copy."""
    if chunk.null_count == len(chunk):
        return None
    values = values_view(chunk)
    return np.fmin.reduce(values).item(), np.fmax.reduce(values).item()


def _limit(values: np.ndarray, check: str, bound: float) -> float | int:
    """The bound to compare ``values`` with: for integers, the integer that gives the same answer (v < 0.5 is
    v < 1, v > 9.5 is v > 9), since comparing int64 with a float converts every value first."""
    if values.dtype.kind not in "iu" or not math.isfinite(bound):
        return bound
    whole = math.ceil(bound) if check == "min" else math.floor(bound)
    info = np.iinfo(values.dtype)
    return whole if info.min <= whole <= info.max else bound


def _crossing(chunk: pa.Array, check: str, bound: float) -> np.ndarray:
    """Positions in a numeric chunk whose value is below (``min``) or above (``max``) ``bound``."""
    values = values_view(chunk)
    rows = np.flatnonzero((np.less if check == "min" else np.greater)(values, _limit(values, check, bound)))
    return np.asarray(rows[_valid_at(chunk, rows)])


def _check_bounds(spec: ColumnSpec, col: Column) -> list[Finding]:
    if (spec.min is None and spec.max is None) or col.null_count == len(col):
        return []
    failures = []
    numeric = pa.types.is_integer(col.type) or pa.types.is_floating(col.type)
    if numeric:  # per chunk, so that only the chunks whose values may cross a bound are searched row by row
        spans = [_slot_extremes(c) for c in col.chunks]
        starts = np.cumsum([0] + [len(c) for c in col.chunks])[:-1]
    else:
        both = pc.min_max(col)
        lowest, highest = both["min"].as_py(), both["max"].as_py()
    for check, bound, word in (("min", spec.min, "below"), ("max", spec.max, "above")):
        if bound is None:
            continue
        limit = _bound(spec, bound).as_py()
        if numeric:
            found = [
                _crossing(c, check, limit) + start
                for c, start, span in zip(col.chunks, starts, spans, strict=True)
                if span is not None and (span[0] < limit if check == "min" else span[1] > limit)
            ]
            rows = np.concatenate(found) if found else np.zeros(0, np.int64)
        elif lowest < limit if check == "min" else highest > limit:
            rows = np.flatnonzero(to_numpy_mask((pc.less if check == "min" else pc.greater)(col, _bound(spec, bound))))
        else:
            continue
        if rows.size:
            failures.append(finding_of(spec.name, check, rows, "value", f"{word} {check} {_fmt(bound)}"))
    return failures


def _check_allowed(spec: ColumnSpec, text: Column, col: Column) -> Finding | None:
    """``text``: what text checks judge, the upload's text (or a category's canonical codes)."""
    if spec.allowed is None:
        return None
    if spec.type in ("string", "category"):
        allowed = pa.array([str(v) for v in spec.allowed], pa.string())
        bad = _text_failures(text, lambda values: pc.is_in(values, value_set=allowed))
    else:
        found = _failed(pc.is_in(col, value_set=pa.array(spec.allowed).cast(col.type), skip_nulls=True))
        bad = np.flatnonzero(found & to_numpy_mask(pc.is_valid(col)))
    if bad is None or not bad.size:
        return None
    return finding_of(spec.name, "allowed", bad, "value", f"not in {spec.allowed}", _shown(spec, col, bad))


def _check_regex(spec: ColumnSpec, text: Column, col: Column) -> Finding | None:
    if spec.regex is None:
        return None
    pattern = f"^(?:{spec.regex})$"
    bad = _text_failures(text, lambda values: pc.match_substring_regex(values, pattern))
    if bad is None:
        return None
    return finding_of(spec.name, "regex", bad, "value", f"not matching {spec.regex!r}", _shown(spec, col, bad))


def _repeats_within(values: np.ndarray, fresh: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """Positions among ``fresh`` ones whose value an earlier fresh position holds. Each position writes itself
    at its value in ``owner``; a value held by several keeps one of them, so those that find another there are
    every holder of a repeated value but one, and with the one they found, all of them (no count, no sort)."""
    at = np.flatnonzero(fresh)
    owner[values[at]] = at
    lost = at[owner[values[at]] != at]
    held = np.union1d(lost, owner[values[lost]])
    order = np.lexsort((held, values[held]))  # by value, then position: the first holder of each value leads
    first = np.r_[True, np.diff(values[held][order]) != 0]
    return np.asarray(held[order][~first])


def _dense_repeats(parts: list[np.ndarray], lo: int, size: int) -> np.ndarray | None:
    """``repeated_rows`` of integers in ``[lo, lo + size)`` given as consecutive runs of rows (a column's chunks):
    walked in order with one flag per possible value, so a row repeats when its value's flag is already up."""
    seen = np.zeros(size, dtype=bool)
    owner = np.empty(0, dtype=np.int64)
    found, start, distinct = [], 0, 0
    for part in parts:
        values = part - lo if lo else part
        repeats = seen[values]  # values met in an earlier run
        seen[values] = True
        now = int(np.count_nonzero(seen))
        if now - distinct < values.size - int(np.count_nonzero(repeats)):  # a new value on several rows of this run
            if not owner.size:
                owner = np.empty(size, dtype=np.int64)
            repeats[_repeats_within(values, ~repeats, owner)] = True
        distinct = now
        if repeats.any():
            found.append(np.flatnonzero(repeats) + start)
        start += values.size
    return np.concatenate(found) if found else None


def repeated_rows(values: pa.Array | pa.ChunkedArray) -> np.ndarray | None:
    """Rows repeating an earlier row's value (nulls never repeat), ascending, or None if all values differ."""
    n = len(values)
    integral = pa.types.is_integer(values.type) or pa.types.is_timestamp(values.type)
    if integral and values.null_count == 0 and n:
        chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
        parts = [values_view(c if c.type == pa.int64() else c.cast(pa.int64())) for c in chunks if len(c)]
        lo, hi = min(int(p.min()) for p in parts), max(int(p.max()) for p in parts)
        if hi - lo < 4 * n:  # dense ids: values index arrays instead of being hashed
            return _dense_repeats(parts, lo, hi - lo + 1)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    encoded = pc.dictionary_encode(values)
    if len(encoded.dictionary) == n - values.null_count:
        return None
    # Arrow numbers distinct values in order of first appearance, so a row repeats an earlier
    # value exactly when its code is not above the running maximum of the codes before it.
    codes = pc.fill_null(encoded.indices, -1).to_numpy().astype(np.int64)
    previous_max = np.maximum.accumulate(np.concatenate(([-1], codes[:-1])))
    return np.flatnonzero((codes >= 0) & (codes <= previous_max))


def _check_unique(spec: ColumnSpec, col: Column) -> Finding | None:
    if not spec.unique:
        return None
    if pa.types.is_dictionary(col.type):  # combined, a category's chunks share one dictionary: equal codes, text
        repeated = repeated_rows(col.combine_chunks().indices)
    else:
        repeated = repeated_rows(col)
    if repeated is None:
        return None
    return repeat_finding(spec, repeated, _shown(spec, col, repeated))


def repeat_finding(spec: ColumnSpec, rows: np.ndarray, shown: tuple[str, ...] | None) -> Finding:
    """The ``unique`` finding: ``rows`` repeat an earlier row's value."""
    return finding_of(spec.name, "unique", rows, "row", "repeating an earlier value", shown)


def _stored_type_mismatch(spec: ColumnSpec, raw: Column) -> tuple[Column, list[Finding]]:
    """A typed file stores the column as another type: one ``type`` finding naming both, over every value."""
    stored = raw.type.value_type if pa.types.is_dictionary(raw.type) else raw.type
    shown = "string" if pa.types.is_large_string(stored) else str(stored)
    message = (
        f"stored as {shown} in a typed file; the contract says {spec.type} "
        "(set coerce: true on the column to convert its values)"
    )
    valid = np.flatnonzero(to_numpy_mask(pc.is_valid(raw)))
    return pa.chunked_array([pa.nulls(len(raw), ARROW_TYPES[spec.type])]), [
        Finding(spec.name, "type", int(valid.size), [int(r) for r in valid[:MAX_EXAMPLES]], text=message)
    ]


def _check_column(
    spec: ColumnSpec, raw: Column, stored_types: bool = False, unique: bool = True
) -> tuple[Column, list[Finding]]:
    if stored_types and not spec.coerce and not stored_type_fits(raw.type, spec.type):
        return _stored_type_mismatch(spec, raw)
    failures: list[Finding] = []
    col, type_failed = coerce_column(raw, spec.type)
    # text checks judge the upload's text, or a category's canonical text once per distinct value through its codes
    text = col if spec.type == "category" else raw
    unreadable = np.flatnonzero(type_failed) if type_failed is not None else np.zeros(0, np.int64)
    if unreadable.size:
        shown = _shown(spec, raw, unreadable)
        failures.append(finding_of(spec.name, "type", unreadable, "value", f"not readable as {spec.type}", shown))
    missing = col.null_count - unreadable.size
    if not spec.nullable and missing > 0:
        nulls = _null_rows(col)
        if unreadable.size:
            nulls = np.setdiff1d(nulls, unreadable, assume_unique=True)
        failures.append(finding_of(spec.name, "not_null", nulls, "null", "in a non-nullable column"))
    failures.extend(_check_bounds(spec, col))
    repeats = _check_unique(spec, col) if unique else None
    for check in (_check_allowed(spec, text, col), _check_regex(spec, text, col), repeats):
        if check is not None:
            failures.append(check)
    return col, failures


def _missing(spec: ColumnSpec, rows: int) -> tuple[Column, list[Finding]]:
    failure = Finding(spec.name, "missing_column", 1, [], text=f"column {spec.name!r} is missing")
    return pa.chunked_array([pa.nulls(rows, ARROW_TYPES[spec.type])]), [failure]


@dataclass(frozen=True)
class CheckedPart:
    """Rows of an upload cast to the contract and checked (all of it, or one part of one read in parts)."""

    typed: pa.Table  # the contract's columns, with the contract's types
    findings: list[Finding]  # examples are row numbers of the upload
    first_row: int  # the upload row number of the part's first row
    kept: np.ndarray | None  # positions in the part of the typed rows when rows without a target were dropped
    uploaded: int  # rows of the upload read here

    def upload_rows(self) -> np.ndarray:
        """The upload row number of each typed row."""
        return self.first_row + (self.kept if self.kept is not None else np.arange(self.typed.num_rows))


def check_part(
    table: pa.Table,
    contract: DataContract,
    *,
    first_row: int = 0,
    max_workers: int | None = None,
    stored_types: bool = False,
    unique: bool = True,
) -> CheckedPart:
    """Cast ``table`` (the upload's rows from ``first_row`` on) to the contract and run every check on its rows;
    ``unique=False`` leaves ``unique`` to the caller, who sees the other parts (the file-level checks, header
    and row count, are ``report_of``'s)."""
    uploaded = table.num_rows
    table, kept = _drop_missing_targets(table, contract)
    rows, names = table.num_rows, table.schema.names

    def check(spec: ColumnSpec) -> tuple[Column, list[Finding]]:
        if spec.name not in names:
            return _missing(spec, rows)
        return _check_column(spec, table.column(names.index(spec.name)), stored_types, unique)

    workers = max_workers or min(_DEFAULT_WORKERS, len(contract.columns))
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            checked = list(pool.map(check, contract.columns))
    else:
        checked = [check(spec) for spec in contract.columns]
    findings = [f for _, found in checked for f in found]
    if kept is not None or first_row:  # report row numbers of the upload
        at = (lambda e: int(kept[e])) if kept is not None else (lambda e: e)
        findings = [dataclasses.replace(f, examples=[first_row + at(e) for e in f.examples]) for f in findings]
    typed = pa.table([col for col, _ in checked], names=contract.names)
    return CheckedPart(typed, findings, first_row, kept, uploaded)


def validate_table(
    table: pa.Table, contract: DataContract, *, max_workers: int | None = None, stored_types: bool = False
) -> tuple[pa.Table, ValidationReport]:
    """Cast ``table`` to the contract and run every check, collecting all failures.

    The returned table has exactly the contract's columns, in order, with the contract's Arrow
    types (a category dictionary-encoded); values that failed the type check are null, and a missing column
    is all null. Columns are checked in a small thread pool (Arrow and numpy release the GIL);
    ``max_workers=1`` checks them one after another. ``stored_types`` (a typed file such as Parquet): a
    column stored as another type than the contract's is a ``type`` finding unless the column says
    ``coerce: true``; text (CSV) is always parsed.
    """
    part = check_part(table, contract, max_workers=max_workers, stored_types=stored_types)
    report = report_of(table.schema.names, contract, part.findings, part.typed.num_rows, part.uploaded)
    return part.typed, report


def _drop_missing_targets(table: pa.Table, contract: DataContract) -> tuple[pa.Table, np.ndarray | None]:
    """With ``missing_target: drop``, the rows whose target is missing (null, or NaN/empty as the type reads
    it; a value of the wrong type is not missing and stays, to fail its type check) and the upload row
    number of each row kept; otherwise the table unchanged and None."""
    names = table.schema.names
    if contract.missing_target != "drop" or names.count(contract.target) != 1:
        return table, None
    spec = contract.column(contract.target)
    col, type_failed = coerce_column(table.column(names.index(contract.target)), spec.type)
    missing = to_numpy_mask(pc.is_null(col))
    if type_failed is not None:
        missing &= ~type_failed
    if not missing.any():
        return table, None
    kept = np.flatnonzero(~missing)
    return table.take(pa.array(kept)), kept


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
