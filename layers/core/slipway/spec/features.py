"""The features and split sections of the model spec, checked against the contract without importing scikit-learn."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, field_validator, model_validator

from slipway.schema import Frozen
from slipway.spec.missing import KIND_OF_TYPE, Missing, MissingSpec, fill_problem

if TYPE_CHECKING:
    from slipway.spec.data import ColumnSpec, DataContract

__all__ = [
    "Bucketize",
    "Clip",
    "DatePart",
    "DateParts",
    "FeaturesSpec",
    "Log",
    "OneHot",
    "Ratio",
    "SplitSpec",
    "Standardize",
    "Transform",
    "check_features",
    "check_split",
    "input_columns",
    "resolve_missing",
]

DatePart = Literal["year", "month", "day", "dayofweek"]
_DEFAULT_PARTS: tuple[DatePart, ...] = ("year", "month", "dayofweek")

# Column types each transform accepts (contract types; bool counts as numeric only for the defaults).
_NUMERIC = ("int", "float")
_ACCEPTS: dict[str, tuple[str, ...]] = {
    "standardize": _NUMERIC,
    "bucketize": _NUMERIC,
    "log": _NUMERIC,
    "clip": _NUMERIC,
    "one_hot": ("string", "category"),
    "date_parts": ("timestamp",),
    "ratio": _NUMERIC,
}
# Transforms whose output is several columns: nothing can follow them on the same column.
_WIDENING = ("one_hot", "bucketize", "date_parts")


class _OnColumns(Frozen):
    columns: list[str] = Field(min_length=1)
    missing: Missing | None = None  # how this transform's columns are filled (features.missing.columns wins)

    @field_validator("columns")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        repeated = sorted({c for c in value if value.count(c) > 1})
        if repeated:
            raise ValueError(f"columns repeated in one transform: {', '.join(repeated)}")
        return value


class Standardize(_OnColumns):
    """Subtract the training mean, divide by the training standard deviation."""

    kind: Literal["standardize"]


class OneHot(_OnColumns):
    """One 0/1 column per category; past ``max_categories`` the rarest share one "infrequent" column."""

    kind: Literal["one_hot"]
    max_categories: int = Field(default=20, ge=2, le=1000)


class Bucketize(_OnColumns):
    """Quantile bins learnt on the training split, one-hot encoded."""

    kind: Literal["bucketize"]
    bins: int = Field(default=5, ge=2, le=100)


class Log(_OnColumns):
    """log1p, negative values clipped at 0 first."""

    kind: Literal["log"]


class Clip(_OnColumns):
    """Clip values into [min, max]; either bound may be left open."""

    kind: Literal["clip"]
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bounds(self) -> Clip:
        if self.min is None and self.max is None:
            raise ValueError("clip needs min, max or both")
        if self.min is not None and self.max is not None and self.max < self.min:
            raise ValueError(f"clip max ({self.max:g}) is smaller than min ({self.min:g})")
        return self


class DateParts(_OnColumns):
    """Calendar parts (UTC) of a timestamp column, as numbers."""

    kind: Literal["date_parts"]
    parts: list[DatePart] = Field(default_factory=lambda: list(_DEFAULT_PARTS), min_length=1)

    @field_validator("parts")
    @classmethod
    def _distinct_parts(cls, value: list[DatePart]) -> list[DatePart]:
        if len(set(value)) != len(value):
            raise ValueError("date parts must not repeat")
        return value


class Ratio(Frozen):
    """A new feature ``name`` = numerator / denominator, 0 where the denominator is 0."""

    kind: Literal["ratio"]
    numerator: str = Field(min_length=1)
    denominator: str = Field(min_length=1)
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    missing: Missing | None = (
        None  # how the two inputs are filled inside the ratio (features.missing.numeric otherwise)
    )

    @property
    def columns(self) -> list[str]:
        """The two input columns, numerator first."""
        return [self.numerator, self.denominator]


Transform = Annotated[Standardize | OneHot | Bucketize | Log | Clip | DateParts | Ratio, Field(discriminator="kind")]


class FeaturesSpec(Frozen):
    """How contract columns become model features; ``exclude`` columns are never features."""

    transforms: list[Transform] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    missing: MissingSpec = Field(default_factory=MissingSpec)

    def check_against(self, contract: DataContract) -> None:
        """Raise ``ValueError`` naming the first column that the contract does not allow here."""
        check_features(self, contract)


class SplitSpec(Frozen):
    """Train/valid/test split: seeded random, or by time (oldest rows train, newest rows test)."""

    method: Literal["random", "time"] = "random"
    seed: int = Field(default=42, ge=0)
    valid: float = Field(default=0.2, ge=0.0, lt=0.8)
    test: float = Field(default=0.2, gt=0.0, lt=0.8)
    column: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> SplitSpec:
        if self.method == "time" and self.column is None:
            raise ValueError("a time split needs column (the timestamp to order rows by)")
        if self.method == "random" and self.column is not None:
            raise ValueError("column applies only to method: time")
        if self.valid + self.test >= 0.8:
            raise ValueError(f"valid + test must be below 0.8 (got {self.valid + self.test:g}); train needs the rest")
        return self

    def check_against(self, contract: DataContract) -> None:
        """Raise ``ValueError`` if the time column is unknown, dropped or not orderable."""
        check_split(self, contract)


def _where(index: int, transform: Transform) -> str:
    return f"features.transforms[{index}] ({transform.kind})"


def check_features(features: FeaturesSpec, contract: DataContract) -> None:
    """Every transform names usable columns of the right type; raise ``ValueError`` naming the column."""
    columns = {c.name: c for c in contract.columns}
    for name in features.exclude:
        if name not in columns:
            raise ValueError(f"features.exclude: column {name!r} is not declared in the data contract")
    chains: dict[str, list[str]] = defaultdict(list)
    ratio_names: set[str] = set()
    for index, transform in enumerate(features.transforms):
        where = _where(index, transform)
        for name in transform.columns:
            if name not in columns:
                raise ValueError(f"{where}: column {name!r} is not declared in the data contract")
            col = columns[name]
            if name == contract.target:
                raise ValueError(f"{where}: column {name!r} is the target; it cannot be a feature")
            if name == contract.entity_id:
                raise ValueError(f"{where}: column {name!r} is the entity id; it cannot be a feature")
            if col.pii != "keep":
                raise ValueError(f"{where}: column {name!r} is PII ({col.pii}); it cannot be a feature")
            if name in features.exclude:
                raise ValueError(f"{where}: column {name!r} is in features.exclude")
            if col.type not in _ACCEPTS[transform.kind]:
                allowed = " or ".join(_ACCEPTS[transform.kind])
                raise ValueError(f"{where}: column {name!r} is {col.type}; {transform.kind} needs {allowed}")
            if isinstance(transform, Ratio):
                continue
            chain = chains[name]
            if transform.kind in chain:
                raise ValueError(f"{where}: column {name!r} already has a {transform.kind} transform")
            if chain and chain[-1] in _WIDENING:
                raise ValueError(f"{where}: column {name!r} is already {chain[-1]}-encoded; nothing can follow")
            chain.append(transform.kind)
        if isinstance(transform, Ratio):
            if transform.name in columns or transform.name in ratio_names:
                raise ValueError(f"{where}: ratio name {transform.name!r} is already a column or ratio name")
            ratio_names.add(transform.name)
    resolve_missing(features, contract)


def input_columns(contract: DataContract, features: FeaturesSpec) -> list[ColumnSpec]:
    """Contract columns the model reads, in contract order: all but target, entity id, PII and excluded ones."""
    skip = {contract.target, contract.entity_id, *features.exclude}
    return [c for c in contract.columns if c.name not in skip and c.pii == "keep"]


def resolve_missing(features: FeaturesSpec, contract: DataContract) -> dict[str, Missing]:
    """The fill of every model input column (column override, else its transforms' ``missing``, else the kind's
    default); ``ValueError`` naming the first field whose fill cannot apply."""
    inputs = {c.name: c for c in input_columns(contract, features)}
    for name in features.missing.columns:
        if name not in inputs:
            raise ValueError(f"features.missing.columns: {name!r} is not a model input column")
    from_transforms: dict[str, tuple[Missing, str]] = {}
    for index, transform in enumerate(features.transforms):
        if transform.missing is None or isinstance(transform, Ratio):
            continue
        where = f"{_where(index, transform)}.missing"
        for name in transform.columns:
            earlier = from_transforms.get(name)
            if earlier is not None and earlier[0] != transform.missing:
                raise ValueError(f"{where}: column {name!r} already has another fill from {earlier[1]}")
            from_transforms[name] = (transform.missing, where)
    resolved: dict[str, Missing] = {}
    for name, col in inputs.items():
        kind = KIND_OF_TYPE[col.type]
        if name in features.missing.columns:
            fill, where = features.missing.columns[name], f"features.missing.columns.{name}"
        elif name in from_transforms:
            fill, where = from_transforms[name]
        else:
            fill, where = features.missing.default_for(kind), f"features.missing.{kind}"
        problem = fill_problem(fill, col, where)
        if problem:
            raise ValueError(problem)
        resolved[name] = fill
    for index, transform in enumerate(features.transforms):
        if isinstance(transform, Ratio):
            fill = transform.missing or features.missing.numeric
            where = f"{_where(index, transform)}.missing" if transform.missing else "features.missing.numeric"
            for name in transform.columns:
                problem = fill_problem(fill, inputs[name], where)
                if problem:
                    raise ValueError(problem)
    return resolved


def check_split(split: SplitSpec, contract: DataContract) -> None:
    """A time split orders rows by a kept timestamp or numeric column; raise ``ValueError`` naming it."""
    if split.column is None:
        return
    names = {c.name: c for c in contract.columns}
    if split.column not in names:
        raise ValueError(f"split.column {split.column!r} is not declared in the data contract")
    col = names[split.column]
    if col.pii != "keep":
        raise ValueError(f"split.column {split.column!r} is PII ({col.pii}); its values cannot order rows")
    if col.type not in ("timestamp", "int", "float"):
        raise ValueError(f"split.column {split.column!r} is {col.type}; a time split needs timestamp, int or float")
