"""Request rows read and checked against the model's data contract, one finding per row, field and check: each
JSON value read by validation's own per-value rule (``slipway.domain.values``: numbers, booleans, category
codes, timestamps and nulls as an upload's CSV cell or Parquet value is read), then the rules validation applies
to an upload (nulls, ranges, allowed values, regex); and the contract as the JSON Schema of one row."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from slipway.domain.timestamps import parse_timestamp
from slipway.domain.values import Unreadable, value_reader
from slipway.spec.data import ColumnSpec, DataContract

__all__ = ["RowFinding", "RowReader", "check_rows", "ignored_columns", "row_json_schema", "served_columns"]


@dataclass(frozen=True)
class RowFinding:
    row: int
    field: str
    check: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "check": self.check, "message": self.message}


def served_columns(contract: DataContract, inputs: Sequence[str]) -> dict[str, ColumnSpec]:
    """What a request row may carry: the model's inputs, and optionally the entity id (sticky routing)."""
    columns = {c.name: c for c in contract.columns if c.name in inputs}
    entity = next((c for c in contract.columns if c.name == contract.entity_id), None)
    if entity is not None and entity.name not in columns:
        columns[entity.name] = entity.model_copy(update={"nullable": True})
    return columns


@lru_cache(maxsize=256)
def _pattern(regex: str) -> re.Pattern[str]:
    return re.compile(regex)


@dataclass(frozen=True, slots=True)
class _Rule:
    """One column's reader and checks, prepared once per served version."""

    spec: ColumnSpec
    read: Callable[[Any], Any]
    low: float | datetime | None
    high: float | datetime | None
    allowed: frozenset[Any] | None
    regex: re.Pattern[str] | None
    checked: bool  # whether a read value has anything to break (bounds, allowed, regex, a float's finiteness)
    iso: bool  # a timestamp: the read row holds its ISO text

    @classmethod
    def of(cls, spec: ColumnSpec, null_values: Collection[str]) -> _Rule:
        low: float | datetime | None
        high: float | datetime | None
        if spec.type == "timestamp":  # bounds of a timestamp column are ISO text
            low = parse_timestamp(spec.min) if isinstance(spec.min, str) else None
            high = parse_timestamp(spec.max) if isinstance(spec.max, str) else None
        else:
            low = spec.min if isinstance(spec.min, (int, float)) else None
            high = spec.max if isinstance(spec.max, (int, float)) else None
        allowed = None if spec.allowed is None else frozenset(spec.allowed)
        regex = None if spec.regex is None else _pattern(spec.regex)
        checked = spec.type == "float" or any(c is not None for c in (low, high, allowed, regex))
        read = value_reader(spec.type, null_values)
        return cls(spec, read, low, high, allowed, regex, checked, spec.type == "timestamp")

    def broken(self, sent: Any, value: Any) -> tuple[str, str] | None:
        """(check, message) for the first rule a read value breaks (as validation judges the typed column: a
        category by its canonical text), or None; ``sent`` is the value as the request wrote it."""
        spec = self.spec
        if isinstance(value, float) and not math.isfinite(value):
            # validation reads "inf" as a float; a request may not send it: JSON has no infinity, and a model's
            # answer to one is undefined
            return "type", f"expected a finite number, got {sent!r}"
        if self.low is not None and value < self.low:
            word = "before" if spec.type == "timestamp" else "below"
            return "min", f"{sent!r} is {word} min {_shown(spec.min)}"
        if self.high is not None and value > self.high:
            word = "after" if spec.type == "timestamp" else "above"
            return "max", f"{sent!r} is {word} max {_shown(spec.max)}"
        if self.allowed is not None and value not in self.allowed:
            return "allowed", f"{sent!r} is not one of {spec.allowed}"
        if self.regex is not None and not self.regex.fullmatch(value):
            return "regex", f"{sent!r} does not match {spec.regex!r}"
        return None


def _shown(bound: float | str | None) -> str:
    return f"{bound:g}" if isinstance(bound, float) else str(bound)


class RowReader:
    """Reads request rows as validation reads an upload: each value of the served columns as its column's type
    (``canonical_value``, with the contract's ``null_values``), then checked against the column's rules. A read
    row holds the served columns only: ints, floats, bools, canonical text, timestamps as ISO text (UTC), None
    for missing values."""

    def __init__(
        self,
        columns: Mapping[str, ColumnSpec],
        ignored: frozenset[str] = frozenset(),
        null_values: Collection[str] = ("",),
    ) -> None:
        self.columns = columns
        self.ignored = ignored
        self.null_values = frozenset(null_values)
        self._rules = [(name, _Rule.of(spec, self.null_values)) for name, spec in columns.items()]

    def read(self, rows: Sequence[Any], limit: int = 50) -> tuple[list[dict[str, Any]], list[RowFinding]]:
        """The rows as read, and every rule they break (at most ``limit`` findings): fields the contract does not
        know, missing or null values of non-nullable columns, then the column's type and value rules. A value
        that breaks a rule is None in its read row."""
        findings: list[RowFinding] = []
        read: list[dict[str, Any]] = []
        for n, row in enumerate(rows):
            values: dict[str, Any] = {}
            read.append(values)
            if not isinstance(row, Mapping):
                message = f"a row must be a JSON object, got {type(row).__name__}"
                findings.append(RowFinding(n, "<row>", "type", message))
                continue
            for name in row:
                if name not in self.columns and name not in self.ignored:
                    message = f"{name!r} is not a column of the contract"
                    findings.append(RowFinding(n, str(name), "unknown_field", message))
            for name, rule in self._rules:
                sent = row.get(name)
                try:
                    value = rule.read(sent)
                except Unreadable as e:
                    findings.append(RowFinding(n, name, "type", str(e)))
                    value = None
                else:
                    if value is None:
                        if not rule.spec.nullable:
                            check = "missing" if name not in row else "not_null"
                            message = f"{name!r} is required (the contract has no nulls)"
                            findings.append(RowFinding(n, name, check, message))
                    elif rule.checked and (broken := rule.broken(sent, value)) is not None:
                        findings.append(RowFinding(n, name, *broken))
                        value = None
                    elif rule.iso:
                        value = value.isoformat()
                values[name] = value
            if len(findings) >= limit:
                return read, findings[:limit]
        return read, findings


def ignored_columns(contract: DataContract, columns: Mapping[str, ColumnSpec]) -> frozenset[str]:
    """Contract columns a row may carry that the model does not read (target, PII, excluded): accepted,
    never checked, never captured."""
    return frozenset(c.name for c in contract.columns if c.name not in columns)


def check_rows(
    rows: Sequence[Mapping[str, Any]],
    columns: Mapping[str, ColumnSpec],
    ignored: frozenset[str] = frozenset(),
    limit: int = 50,
    null_values: Collection[str] = ("",),
) -> list[RowFinding]:
    """Every rule each row breaks (at most ``limit`` findings), as ``RowReader.read`` finds them."""
    return RowReader(columns, ignored, null_values).read(rows, limit)[1]


_JSON_TYPES: dict[str, dict[str, Any]] = {
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "string": {"type": "string"},
    "category": {"type": ["string", "number"]},
    "timestamp": {"type": "string", "format": "date-time"},
}


def row_json_schema(columns: Mapping[str, ColumnSpec], ignored: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one request row."""
    properties: dict[str, Any] = {name: {"description": "accepted, not read by the model"} for name in sorted(ignored)}
    for name, spec in columns.items():
        schema: dict[str, Any] = {**_JSON_TYPES[spec.type]}
        if isinstance(spec.min, (int, float)):
            schema["minimum"] = spec.min
        if isinstance(spec.max, (int, float)):
            schema["maximum"] = spec.max
        if spec.allowed is not None:
            schema["enum"] = list(spec.allowed)
        if spec.regex is not None:
            schema["pattern"] = f"^(?:{spec.regex})$"
        if spec.nullable:
            schema = {"anyOf": [schema, {"type": "null"}]}
        properties[name] = schema
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties,
        "required": [n for n, s in columns.items() if not s.nullable],
        "additionalProperties": False,
    }
