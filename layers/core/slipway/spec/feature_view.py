"""A feature view's spec (``specs/feature_views/*.yaml``): values that live between models, keyed by an entity and
stamped with an event time. Its uploads (``views/<name>/<file>`` in the raw bucket) are checked by the same data
contract machinery as a model's, kept offline as Parquet in the lake and materialised online (newest event time per
entity); a model's columns that name the view are joined to its labels as of each label's time, and fetched by
entity at prediction time. Versioned like a model spec: the hash of its canonical JSON."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from slipway.errors import SpecError
from slipway.schema import Frozen, field_errors
from slipway.spec.data import ColumnSpec, DataContract, Scalar

__all__ = ["FeatureColumn", "FeatureViewSpec", "load_view", "parse_ttl", "view_version"]

_TTL = re.compile(r"^(\d+)\s*([smhdw])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
KEY_TYPES = ("int", "string", "category")


def parse_ttl(value: str | int) -> int:
    """Seconds of a TTL written ``90d``, ``12h``, ``30m``, ``45s``, ``2w`` or as a number of seconds."""
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    else:
        found = _TTL.match(str(value).strip())
        if not found:
            raise ValueError(f"ttl {value!r}: write a number of seconds or a duration such as 90d, 12h, 30m")
        seconds = int(found.group(1)) * _SECONDS[found.group(2)]
    if seconds <= 0:
        raise ValueError(f"ttl {value!r} must be longer than zero")
    return seconds


class FeatureColumn(ColumnSpec):
    """A column of the view's uploads. For a feature: what it means and, optionally, the value a model gets when
    the entity has none (unknown, expired, or none as of a label's time)."""

    description: str = ""
    default: Scalar | None = None


class FeatureViewSpec(Frozen):
    """One feature view: the entity key column(s), the event-time column, the features, how long a value stays
    valid (``ttl``), and what a model gets for an entity without a valid value (``missing``)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{1,40}$")
    description: str = ""
    entity: list[str] = Field(min_length=1, max_length=4)
    timestamp: str
    ttl: str | int
    # reject: a prediction for such an entity is a 422 naming it and the feature (unless the request sends the
    # value), and a training row gets null; default: each feature's ``default`` (required then), both places.
    missing: Literal["reject", "default"] = "reject"
    columns: list[FeatureColumn] = Field(min_length=3)
    min_rows: int = Field(default=1, ge=0)
    max_rows: int | None = Field(default=None, ge=1)
    null_values: list[str] = Field(default_factory=lambda: [""])

    @field_validator("ttl")
    @classmethod
    def _ttl_reads(cls, value: str | int) -> str | int:
        parse_ttl(value)
        return value

    @model_validator(mode="after")
    def _columns_fit(self) -> FeatureViewSpec:
        names = [c.name for c in self.columns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"columns: names must be unique; repeated: {', '.join(dupes)}")
        by_name = {c.name: c for c in self.columns}
        for key in self.entity:
            col = by_name.get(key)
            if col is None:
                raise ValueError(f"entity: {key!r} is not a declared column")
            if col.type not in KEY_TYPES or col.nullable or col.pii != "keep":
                raise ValueError(
                    f"entity: key {key!r} must be a non-nullable int, string or category column kept as uploaded"
                )
        stamp = by_name.get(self.timestamp)
        if stamp is None or stamp.type != "timestamp" or stamp.nullable:
            raise ValueError(f"timestamp: {self.timestamp!r} must name a non-nullable timestamp column")
        if self.timestamp in self.entity:
            raise ValueError("timestamp: the event time cannot also be an entity key")
        if not self.features:
            raise ValueError("columns: declare at least one feature beside the entity keys and the event time")
        for col in self.features:
            if col.pii == "drop":
                raise ValueError(f"columns: feature {col.name!r} is PII-dropped: a view serves what it keeps")
            if self.missing == "default" and col.default is None:
                raise ValueError(f"columns: feature {col.name!r} needs a default (missing: default)")
            if col.default is not None:
                _check_default(col)
        return self

    @property
    def features(self) -> list[FeatureColumn]:
        """The columns a model may use: every column but the keys and the event time, in declared order."""
        return [c for c in self.columns if c.name not in self.entity and c.name != self.timestamp]

    @property
    def ttl_seconds(self) -> int:
        return parse_ttl(self.ttl)

    def feature(self, name: str) -> FeatureColumn:
        for col in self.features:
            if col.name == name:
                return col
        raise KeyError(name)

    def contract(self) -> DataContract:
        """The contract every upload of the view must meet, as the shared validation reads it. A view has no
        target: the event time stands in, which validation only uses to refuse rows without one (as a
        non-nullable column it would anyway)."""
        columns = [ColumnSpec(**c.model_dump(exclude={"description", "default"})) for c in self.columns]
        return DataContract(
            columns=columns,
            target=self.timestamp,
            timestamp=self.timestamp,
            entity_id=self.entity[0],
            min_rows=self.min_rows,
            max_rows=self.max_rows,
            null_values=self.null_values,
        )

    def binding(self, features: list[str], version: str) -> dict[str, Any]:
        """What a model version records of the view, to fetch it online in any environment without the view's
        spec: its keys, TTL, rule for missing values, and the defaults of the features it uses."""
        return {
            "view": self.name,
            "spec_version": version,
            "entity": list(self.entity),
            "ttl_s": self.ttl_seconds,
            "missing": self.missing,
            "features": {f: self.feature(f).default for f in features},
        }


def fit_problems(contract: DataContract, view: FeatureViewSpec, features: list[str]) -> list[str]:
    """What keeps a model's columns from taking ``features`` from ``view``: its entity keys must be columns of the
    model's data with the view's types, and each feature a feature of the view with the model column's type."""
    problems = []
    keys = view.contract()
    for key in view.entity:
        if key not in contract.names:
            problems.append(f"the view's entity key {key!r} is not a column of the model's data")
        elif contract.column(key).type != keys.column(key).type:
            problems.append(f"key {key!r} is {contract.column(key).type} here but {keys.column(key).type} in the view")
    for name in features:
        try:
            theirs = view.feature(name)
        except KeyError:
            problems.append(f"column {name!r} is not a feature of view {view.name!r}")
            continue
        if theirs.type != contract.column(name).type:
            problems.append(f"column {name!r} is {contract.column(name).type} here but {theirs.type} in the view")
    return problems


def _check_default(col: FeatureColumn) -> None:
    value = col.default
    fits = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "string": isinstance(value, str),
        "category": not isinstance(value, bool),
        "timestamp": isinstance(value, str),
    }[col.type]
    if not fits:
        raise ValueError(f"columns: default {value!r} of feature {col.name!r} does not fit a {col.type} column")
    if col.allowed is not None and value not in col.allowed:
        raise ValueError(f"columns: default {value!r} of feature {col.name!r} is not one of its allowed values")


def load_view(source: str | bytes) -> FeatureViewSpec:
    """Parse a YAML feature view; every problem becomes one ``SpecError`` naming each field at fault."""
    text = source.decode("utf-8") if isinstance(source, bytes) else source
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        errors = [{"field": "(yaml)", "message": f"YAML syntax error: {exc}"}]
        raise SpecError("feature view is not valid YAML", details={"errors": errors}) from exc
    if not isinstance(raw, dict):
        errors = [{"field": "(view)", "message": f"expected a mapping at the top level, got {type(raw).__name__}"}]
        raise SpecError("feature view must be a YAML mapping", details={"errors": errors})
    try:
        return FeatureViewSpec.model_validate(raw)
    except ValidationError as exc:
        errors = field_errors(exc, root="(view)")
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        raise SpecError(f"feature view is invalid: {summary}", details={"errors": errors}) from exc


def view_version(view: FeatureViewSpec) -> str:
    """SHA-256 hex of the view's canonical JSON (defaults left out, as a model spec's)."""
    canonical = json.dumps(view.model_dump(mode="json", exclude_defaults=True), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def dump_view_yaml(view: FeatureViewSpec) -> str:
    return yaml.safe_dump(view.model_dump(mode="json", exclude_defaults=True), sort_keys=False, allow_unicode=True)
