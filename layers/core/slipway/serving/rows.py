"""Request rows checked against the model's data contract, one finding per row, field and check, the
same rules validation applies to an upload (types, nulls, ranges, allowed values, regex); and the
contract as the JSON Schema of one row."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from slipway.domain.timestamps import parse_timestamp
from slipway.spec.data import ColumnSpec, DataContract

__all__ = ["RowFinding", "check_rows", "ignored_columns", "row_json_schema", "served_columns"]


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


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_value(spec: ColumnSpec, value: Any) -> tuple[str, str] | None:
    """(check, message) for the first rule a non-null value breaks, or None."""
    kind = spec.type
    if kind == "int":
        if not _is_number(value) or (isinstance(value, float) and not value.is_integer()):
            return "type", f"expected an integer, got {value!r}"
    elif kind == "float":
        if not _is_number(value):
            return "type", f"expected a number, got {value!r}"
        if not math.isfinite(value):
            return "type", f"expected a finite number, got {value!r}"
    elif kind == "bool":
        if not isinstance(value, bool):
            return "type", f"expected true or false, got {value!r}"
    elif kind == "timestamp":
        try:
            moment = parse_timestamp(value)
        except (TypeError, ValueError, OverflowError, OSError):
            return "type", f"expected an ISO-8601 timestamp, got {value!r}"
        if isinstance(spec.min, str) and moment < parse_timestamp(spec.min):
            return "min", f"{value!r} is before min {spec.min}"
        if isinstance(spec.max, str) and moment > parse_timestamp(spec.max):
            return "max", f"{value!r} is after max {spec.max}"
        return None
    elif not isinstance(value, str) and not (kind == "category" and _is_number(value)):
        return "type", f"expected a string, got {value!r}"
    if isinstance(spec.min, (int, float)) and _is_number(value) and value < spec.min:
        return "min", f"{value!r} is below min {spec.min:g}"
    if isinstance(spec.max, (int, float)) and _is_number(value) and value > spec.max:
        return "max", f"{value!r} is above max {spec.max:g}"
    if spec.allowed is not None:
        allowed = {str(v) for v in spec.allowed} if kind in ("string", "category") else set(spec.allowed)
        probe = str(value) if kind in ("string", "category") else value
        if probe not in allowed:
            return "allowed", f"{value!r} is not one of {spec.allowed}"
    if spec.regex is not None and not _pattern(spec.regex).fullmatch(str(value)):
        return "regex", f"{value!r} does not match {spec.regex!r}"
    return None


def ignored_columns(contract: DataContract, columns: Mapping[str, ColumnSpec]) -> frozenset[str]:
    """Contract columns a row may carry that the model does not read (target, PII, excluded): accepted,
    never checked, never captured."""
    return frozenset(c.name for c in contract.columns if c.name not in columns)


def check_rows(
    rows: Sequence[Mapping[str, Any]],
    columns: Mapping[str, ColumnSpec],
    ignored: frozenset[str] = frozenset(),
    limit: int = 50,
) -> list[RowFinding]:
    """Every rule each row breaks (at most ``limit`` findings): fields the contract does not know, missing
    or null values of non-nullable columns, then the column's type and value rules."""
    findings: list[RowFinding] = []
    for n, row in enumerate(rows):
        if not isinstance(row, Mapping):
            findings.append(RowFinding(n, "<row>", "type", f"a row must be a JSON object, got {type(row).__name__}"))
            continue
        for name in row:
            if name not in columns and name not in ignored:
                findings.append(RowFinding(n, str(name), "unknown_field", f"{name!r} is not a column of the contract"))
        for name, spec in columns.items():
            value = row.get(name)
            if value is None:
                if not spec.nullable:
                    check = "missing" if name not in row else "not_null"
                    findings.append(RowFinding(n, name, check, f"{name!r} is required (the contract has no nulls)"))
                continue
            broken = _check_value(spec, value)
            if broken is not None:
                findings.append(RowFinding(n, name, *broken))
        if len(findings) >= limit:
            return findings[:limit]
    return findings


_JSON_TYPES: dict[str, dict[str, Any]] = {
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "string": {"type": "string"},
    "category": {"type": ["string", "number"]},
    "timestamp": {"type": ["string", "number"], "format": "date-time"},
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
