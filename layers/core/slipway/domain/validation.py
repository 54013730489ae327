"""Whole-column data-contract checks that report every failure at once, and PII handling."""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from slipway.domain.coercion import ARROW_TYPES, coerce_column, stored_type_fits, to_numpy_mask
from slipway.spec import ColumnSpec, DataContract, parse_timestamp

__all__ = ["ARROW_TYPES", "CheckFailure", "ValidationReport", "apply_pii", "validate_table"]

MAX_EXAMPLES = 5
MAX_UNEXPECTED_LISTED = 50  # a 20,000-column file gets 50 findings and a count, not 20,000 findings
_DEFAULT_WORKERS = min(4, os.cpu_count() or 1)

type Column = pa.ChunkedArray


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
    dropped_null_target: int = 0  # rows removed before the checks (``missing_target: drop``)

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
            "dropped_rows": {"null_target": self.dropped_null_target},
            "failures": [f.to_dict() for f in self.failures],
        }


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
    return ", e.g. " + ", ".join(repr(col[int(r)].as_py()) for r in rows)


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
            if chunk.null_count:
                bad &= to_numpy_mask(chunk.is_valid())
            parts.append(bad if bad.any() else None)
            continue
        bad_codes = _failed(predicate(chunk.dictionary.cast(pa.string()))) & to_numpy_mask(chunk.dictionary.is_valid())
        if not bad_codes.any():
            parts.append(None)
            continue
        bad = bad_codes[chunk.indices.fill_null(0).to_numpy()]
        if chunk.null_count:
            bad &= to_numpy_mask(chunk.is_valid())
        parts.append(bad if bad.any() else None)
    return _join(parts, [len(c) for c in col.chunks])


# --- value checks ------------------------------------------------------------------------------


def _bound(spec: ColumnSpec, value: float | str) -> pa.Scalar:
    if spec.type == "timestamp":
        return pa.scalar(parse_timestamp(value), ARROW_TYPES["timestamp"])
    return pa.scalar(float(value), pa.float64())


def _as_numpy(col: Column) -> list[np.ndarray] | None:
    """Null-free ints, or floats with nulls as NaN (which every comparison rejects), else None."""
    if pa.types.is_floating(col.type) or (pa.types.is_integer(col.type) and col.null_count == 0):
        return [c.to_numpy(zero_copy_only=False) for c in col.chunks if len(c)]
    return None


def _check_bounds(spec: ColumnSpec, col: Column) -> list[CheckFailure]:
    if (spec.min is None and spec.max is None) or col.null_count == len(col):
        return []
    chunks = _as_numpy(col)
    if chunks is not None:  # numpy reductions on zero-copy views beat pc.min_max's NaN handling
        lowest = min(np.fmin.reduce(c) for c in chunks)
        highest = max(np.fmax.reduce(c) for c in chunks)
    else:
        extremes = pc.min_max(col)
        lowest, highest = extremes["min"].as_py(), extremes["max"].as_py()
    failures = []
    for check, bound, extreme, word in (("min", spec.min, lowest, "below"), ("max", spec.max, highest, "above")):
        if bound is None:
            continue
        limit = _bound(spec, bound)
        if extreme < limit.as_py() if check == "min" else extreme > limit.as_py():
            if chunks is not None:
                compare = np.less if check == "min" else np.greater
                mask = np.concatenate([compare(c, limit.as_py()) for c in chunks])
            else:
                mask = to_numpy_mask((pc.less if check == "min" else pc.greater)(col, limit))
            failures.append(_failure(spec.name, check, mask, f"{_n(mask.sum(), 'value')} {word} {check} {_fmt(bound)}"))
    return failures


def _check_allowed(spec: ColumnSpec, raw: Column, col: Column) -> CheckFailure | None:
    if spec.allowed is None:
        return None
    if spec.type in ("string", "category"):
        allowed = pa.array([str(v) for v in spec.allowed], pa.string())
        text = col if spec.type == "category" else raw  # categories are judged as canonical text
        bad = _text_failures(text, lambda values: pc.is_in(values, value_set=allowed))
    else:
        bad = _failed(pc.is_in(col, value_set=pa.array(spec.allowed).cast(col.type), skip_nulls=True))
        bad &= to_numpy_mask(pc.is_valid(col))
    if bad is None or not bad.any():
        return None
    message = f"{_n(bad.sum(), 'value')} not in {spec.allowed}{_sample(spec, col, bad)}"
    return _failure(spec.name, "allowed", bad, message)


def _check_regex(spec: ColumnSpec, raw: Column, col: Column) -> CheckFailure | None:
    if spec.regex is None:
        return None
    pattern = f"^(?:{spec.regex})$"
    text = col if spec.type == "category" else raw  # categories are judged as canonical text
    bad = _text_failures(text, lambda values: pc.match_substring_regex(values, pattern))
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
            counts = np.bincount(offsets)
            if counts.max() <= 1:
                return None
            rows = np.flatnonzero((counts > 1)[offsets])  # every row of a repeated value, in order
            order = np.argsort(offsets[rows], kind="stable")
            firsts = np.r_[True, np.diff(offsets[rows][order]) != 0]
            repeated = np.zeros(n, dtype=bool)
            repeated[rows[order][~firsts]] = True
            return repeated
    encoded = pc.dictionary_encode(values)
    if len(encoded.dictionary) == n - values.null_count:
        return None
    # Arrow numbers distinct values in order of first appearance, so a row repeats an earlier
    # value exactly when its code is not above the running maximum of the codes before it.
    codes = pc.fill_null(encoded.indices, -1).to_numpy().astype(np.int64)
    previous_max = np.maximum.accumulate(np.concatenate(([-1], codes[:-1])))
    return np.asarray((codes >= 0) & (codes <= previous_max))


def _check_unique(spec: ColumnSpec, col: Column) -> CheckFailure | None:
    if not spec.unique:
        return None
    repeated = _repeated_rows(col.combine_chunks())
    if repeated is None:
        return None
    message = f"{_n(repeated.sum(), 'row')} repeating an earlier value{_sample(spec, col, repeated)}"
    return _failure(spec.name, "unique", repeated, message)


def _stored_type_mismatch(spec: ColumnSpec, raw: Column) -> tuple[Column, list[CheckFailure]]:
    """A typed file stores the column as another type: one ``type`` finding naming both, over every value."""
    stored = raw.type.value_type if pa.types.is_dictionary(raw.type) else raw.type
    shown = "string" if pa.types.is_large_string(stored) else str(stored)
    message = (
        f"stored as {shown} in a typed file; the contract says {spec.type} "
        "(set coerce: true on the column to convert its values)"
    )
    failure = _failure(spec.name, "type", to_numpy_mask(pc.is_valid(raw)), message)
    return pa.chunked_array([pa.nulls(len(raw), ARROW_TYPES[spec.type])]), [failure]


def _check_column(spec: ColumnSpec, raw: Column, stored_types: bool = False) -> tuple[Column, list[CheckFailure]]:
    if stored_types and not spec.coerce and not stored_type_fits(raw.type, spec.type):
        return _stored_type_mismatch(spec, raw)
    failures: list[CheckFailure] = []
    col, type_failed = coerce_column(raw, spec.type)
    if type_failed is not None and type_failed.any():
        message = f"{_n(type_failed.sum(), 'value')} not readable as {spec.type}{_sample(spec, raw, type_failed)}"
        failures.append(_failure(spec.name, "type", type_failed, message))
    else:
        type_failed = None
    missing = col.null_count - (int(type_failed.sum()) if type_failed is not None else 0)
    if not spec.nullable and missing > 0:
        nulls = to_numpy_mask(pc.is_null(col))
        if type_failed is not None:
            nulls &= ~type_failed
        failures.append(_failure(spec.name, "not_null", nulls, f"{_n(missing, 'null')} in a non-nullable column"))
    failures.extend(_check_bounds(spec, col))
    for check in (_check_allowed(spec, raw, col), _check_regex(spec, raw, col), _check_unique(spec, col)):
        if check is not None:
            failures.append(check)
    return col, failures


def _header_failures(names: list[str], contract: DataContract) -> list[CheckFailure]:
    """Columns the contract does not declare, or declared more than once. A header naming no contract column
    at all is one ``header`` finding that quotes none of it (a file without a header row has data there)."""
    declared = set(contract.names)
    counts = collections.Counter(names)
    if names and not declared & counts.keys():
        message = (
            f"none of the {len(counts)} column names in the first row is a column of the contract (a file "
            f"without a header row?); expected: {', '.join(contract.names)}"
        )
        return [CheckFailure(None, "header", 1, [], message)]
    odd = [name for name in counts if name not in declared or counts[name] > 1]
    failures = [
        CheckFailure(
            name,
            "unexpected_column",
            1,
            [],
            f"column {name!r} appears {counts[name]} times"
            if name in declared
            else f"column {name!r} is not in the contract",
        )
        for name in odd[:MAX_UNEXPECTED_LISTED]
    ]
    if len(odd) > MAX_UNEXPECTED_LISTED:
        rest = len(odd) - MAX_UNEXPECTED_LISTED
        failures.append(
            CheckFailure(None, "unexpected_column", rest, [], f"{rest} more columns not in the contract, not listed")
        )
    return failures


def _missing(spec: ColumnSpec, rows: int) -> tuple[Column, list[CheckFailure]]:
    failure = CheckFailure(spec.name, "missing_column", 1, [], f"column {spec.name!r} is missing")
    return pa.chunked_array([pa.nulls(rows, ARROW_TYPES[spec.type])]), [failure]


def validate_table(
    table: pa.Table, contract: DataContract, *, max_workers: int | None = None, stored_types: bool = False
) -> tuple[pa.Table, ValidationReport]:
    """Cast ``table`` to the contract and run every check, collecting all failures.

    The returned table has exactly the contract's columns, in order, with the contract's Arrow
    types; values that failed the type check are null, and a missing column is all null.
    Columns are checked in a small thread pool (Arrow and numpy release the GIL);
    ``max_workers=1`` checks them one after another. ``stored_types`` (a typed file such as Parquet): a
    column stored as another type than the contract's is a ``type`` finding unless the column says
    ``coerce: true``; text (CSV) is always parsed.
    """
    uploaded_rows = table.num_rows
    table, kept = _drop_missing_targets(table, contract)
    rows, names = table.num_rows, table.schema.names
    failures: list[CheckFailure] = []
    failures.extend(_header_failures(names, contract))

    def check(spec: ColumnSpec) -> tuple[Column, list[CheckFailure]]:
        if spec.name not in names:
            return _missing(spec, rows)
        return _check_column(spec, table.column(names.index(spec.name)), stored_types)

    workers = max_workers or min(_DEFAULT_WORKERS, len(contract.columns))
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            checked = list(pool.map(check, contract.columns))
    else:
        checked = [check(spec) for spec in contract.columns]
    for _, column_failures in checked:
        failures.extend(column_failures)
    too_few = rows < contract.min_rows
    if too_few or (contract.max_rows is not None and rows > contract.max_rows):
        bound = f"min_rows {contract.min_rows}" if too_few else f"max_rows {contract.max_rows}"
        failures.append(CheckFailure(None, "row_count", 1, [], f"{rows} rows breaks {bound}"))
    typed = pa.table([col for col, _ in checked], names=contract.names)
    if kept is not None:  # report row numbers of the upload, not of the rows kept
        failures = [dataclasses.replace(f, examples=[int(kept[e]) for e in f.examples]) for f in failures]
    return typed, ValidationReport(rows=uploaded_rows, failures=failures, dropped_null_target=uploaded_rows - rows)


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
