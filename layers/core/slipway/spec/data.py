"""The data section of the model spec: the contract every upload must meet."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from slipway.domain.categories import Label, canonical_category
from slipway.domain.timestamps import parse_timestamp
from slipway.schema import Frozen

__all__ = ["ColumnSpec", "ColumnType", "DataContract", "Label", "canonical_category", "parse_timestamp"]

ColumnType = Literal["int", "float", "string", "bool", "timestamp", "category"]
Scalar = str | int | float | bool

_NUMERIC = ("int", "float")
_TEXT = ("string", "category")
# RE2 (used by pyarrow.compute) has no lookaround and no backreferences; reject them up front.
_RE2_UNSUPPORTED = re.compile(r"\(\?<?[=!]|\\[1-9]|\(\?P=")


class ColumnSpec(Frozen):
    """One column of the data contract: its type, bounds, allowed values and PII handling."""

    name: str = Field(min_length=1)
    type: ColumnType
    nullable: bool = False
    # float for int/float columns; for timestamp columns the bound is normalised to an ISO string.
    min: float | str | None = None
    max: float | str | None = None
    allowed: list[Scalar] | None = None
    unique: bool = False
    regex: str | None = None
    pii: Literal["hash", "drop", "keep"] = "keep"
    # Typed files (Parquet) must store the column as the contract's type (a string column for an int is a
    # `type` finding naming both); coerce: true converts it value by value instead, as CSV text is read.
    coerce: bool = False
    # The feature view that supplies this column: uploads do not carry it; training joins the view's value as of
    # each row's ``timestamp`` by the view's entity key, and serving fetches it by entity (docs/features.md).
    view: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9-]{1,40}$")

    @field_validator("min", "max", mode="before")
    @classmethod
    def _dates_to_text(cls, value: Any) -> Any:
        # YAML turns an unquoted 2020-01-01 into a date; keep it as text for the timestamp parser.
        if isinstance(value, (date, datetime)):
            return value.isoformat()
        return value

    @field_validator("min", "max")
    @classmethod
    def _bound_fits_type(cls, value: float | str | None, info: ValidationInfo) -> float | str | None:
        col_type = info.data.get("type")
        if value is None or col_type is None:
            return value
        if col_type == "timestamp":
            return parse_timestamp(value).isoformat()
        if col_type not in _NUMERIC:
            raise ValueError(f"{info.field_name} applies only to int, float and timestamp columns, not {col_type}")
        if isinstance(value, str):
            raise ValueError(f"{info.field_name} of a {col_type} column must be a number, got {value!r}")
        if info.field_name == "max" and isinstance(info.data.get("min"), float) and value < info.data["min"]:
            raise ValueError(f"max ({value:g}) is smaller than min ({info.data['min']:g})")
        return value

    @field_validator("max")
    @classmethod
    def _timestamp_order(cls, value: float | str | None, info: ValidationInfo) -> float | str | None:
        low = info.data.get("min")
        if info.data.get("type") == "timestamp" and isinstance(value, str) and isinstance(low, str):
            if parse_timestamp(value) < parse_timestamp(low):
                raise ValueError(f"max ({value}) is earlier than min ({low})")
        return value

    @field_validator("allowed")
    @classmethod
    def _allowed_fits_type(cls, value: list[Scalar] | None, info: ValidationInfo) -> list[Scalar] | None:
        col_type = info.data.get("type")
        if value is None or col_type is None:
            return value
        if not value:
            raise ValueError("allowed must list at least one value")
        accepts: Callable[[Any], bool] = {
            "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
            "string": lambda v: isinstance(v, str),
            "category": lambda v: not isinstance(v, bool),
            "bool": lambda v: isinstance(v, bool),
            "timestamp": lambda v: False,
        }[col_type]
        wrong = [v for v in value if not accepts(v)]
        if wrong:
            raise ValueError(f"allowed values {wrong!r} do not fit a {col_type} column (quote YAML strings)")
        if col_type == "category":
            return [canonical_category(v) for v in value]
        return value

    @field_validator("regex")
    @classmethod
    def _regex_compiles(cls, value: str | None, info: ValidationInfo) -> str | None:
        col_type = info.data.get("type")
        if value is None or col_type is None:
            return value
        if col_type not in _TEXT:
            raise ValueError(f"regex applies only to string and category columns, not {col_type}")
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"regex {value!r} does not compile: {exc}") from exc
        if _RE2_UNSUPPORTED.search(value):
            raise ValueError(f"regex {value!r} uses lookaround or backreferences, which RE2 does not support")
        return value


class DataContract(Frozen):
    """What an upload must look like: columns, row-count bounds, target, ids and sensitive attributes."""

    columns: list[ColumnSpec] = Field(min_length=1)
    target: str
    timestamp: str | None = None
    entity_id: str | None = None
    sensitive: list[str] = Field(default_factory=list)
    # A row without a target cannot train: "quarantine" refuses the whole upload (a not_null finding on the
    # target); "drop" removes those rows before every other check and reports how many were dropped.
    missing_target: Literal["quarantine", "drop"] = "quarantine"
    min_rows: int = Field(default=1, ge=0)
    max_rows: int | None = Field(default=None, ge=1)
    # CSV cells that mean "missing" (Parquet has real nulls): e.g. add "NA" for files written by R.
    null_values: list[str] = Field(default_factory=lambda: [""])

    @field_validator("columns")
    @classmethod
    def _unique_names(cls, value: list[ColumnSpec]) -> list[ColumnSpec]:
        counts = Counter(c.name for c in value)
        dupes = sorted(name for name, n in counts.items() if n > 1)
        if dupes:
            raise ValueError(f"column names must be unique; repeated: {', '.join(dupes)}")
        return value

    @field_validator("target", "timestamp", "entity_id")
    @classmethod
    def _names_a_column(cls, value: str | None, info: ValidationInfo) -> str | None:
        columns = {c.name: c for c in info.data.get("columns", [])}
        if value is None or not columns:
            return value
        if value not in columns:
            raise ValueError(f"{info.field_name} {value!r} is not a declared column")
        col = columns[value]
        if info.field_name in ("target", "timestamp") and col.pii == "drop":
            raise ValueError(f"{info.field_name} {value!r} cannot be a PII-dropped column")
        if info.field_name == "target" and col.nullable:
            raise ValueError(
                f"target {value!r} is nullable: every row needs a target to train on; declare the column "
                "nullable: false (an upload with a missing target is then refused at validation)"
            )
        if info.field_name == "timestamp" and col.type != "timestamp":
            raise ValueError(f"timestamp {value!r} must be a timestamp column, not {col.type}")
        return value

    @field_validator("sensitive")
    @classmethod
    def _sensitive_columns(cls, value: list[str], info: ValidationInfo) -> list[str]:
        columns = {c.name: c for c in info.data.get("columns", [])}
        if not columns:
            return value
        unknown = [v for v in value if v not in columns]
        if unknown:
            raise ValueError(f"sensitive attributes {unknown!r} are not declared columns")
        dropped = [v for v in value if columns[v].pii == "drop"]
        if dropped:
            raise ValueError(f"sensitive attributes {dropped!r} are PII-dropped; fairness needs their values")
        return value

    @field_validator("columns")
    @classmethod
    def _view_columns(cls, value: list[ColumnSpec]) -> list[ColumnSpec]:
        for col in value:
            if col.view is not None and col.pii != "keep":
                raise ValueError(f"column {col.name!r} comes from view {col.view!r}: its PII is the view's to handle")
        return value

    @model_validator(mode="after")
    def _views_need_time(self) -> DataContract:
        joined = [c.name for c in self.columns if c.view is not None]
        if not joined:
            return self
        if self.timestamp is None:
            raise ValueError(
                f"columns {joined!r} come from feature views: name the label time as data.timestamp (each row is "
                "joined to the view's values as of that time)"
            )
        own = {self.target, self.timestamp, self.entity_id, *self.sensitive}
        clash = sorted(n for n in joined if n in own)
        if clash:
            raise ValueError(
                f"columns {clash!r} come from feature views: the target, timestamp, entity id and "
                "sensitive attributes must be the upload's own"
            )
        return self

    @property
    def view_columns(self) -> list[ColumnSpec]:
        """The columns feature views supply (none in an upload)."""
        return [c for c in self.columns if c.view is not None]

    def columns_by_view(self) -> dict[str, list[str]]:
        """The names of the columns each feature view supplies, in contract order."""
        found: dict[str, list[str]] = {}
        for col in self.view_columns:
            found.setdefault(str(col.view), []).append(col.name)
        return found

    def upload_contract(self) -> DataContract:
        """The contract an upload meets: without the columns feature views supply."""
        if not self.view_columns:
            return self
        return self.model_copy(update={"columns": [c for c in self.columns if c.view is None]})

    @field_validator("max_rows")
    @classmethod
    def _row_bounds(cls, value: int | None, info: ValidationInfo) -> int | None:
        low = info.data.get("min_rows")
        if value is not None and low is not None and value < low:
            raise ValueError(f"max_rows ({value}) is smaller than min_rows ({low})")
        return value

    @property
    def names(self) -> list[str]:
        """Column names in contract order."""
        return [c.name for c in self.columns]

    def known_labels(self) -> list[Label] | None:
        """The target's possible values when the contract names them (``allowed``, or a bool), sorted as the
        model orders its classes; None when only the data can tell."""
        target = self.column(self.target)
        if target.type == "bool":
            return [False, True]
        if target.allowed is None:
            return None
        return sorted(set(target.allowed))  # type: ignore[arg-type]  # a target's allowed values are its labels

    def column(self, name: str) -> ColumnSpec:
        """The spec of column ``name``; ``KeyError`` if the contract does not declare it."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)
