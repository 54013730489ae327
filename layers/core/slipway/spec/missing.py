"""How missing values of feature columns are filled: a default per input kind, overridden per transform
and per column; checked against the contract without importing scikit-learn."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator

from slipway.domain.timestamps import parse_timestamp
from slipway.schema import Frozen

if TYPE_CHECKING:
    from slipway.spec.data import ColumnSpec

__all__ = [
    "KIND_OF_TYPE",
    "STRATEGIES",
    "Constant",
    "FillStrategy",
    "Missing",
    "MissingSpec",
    "describe_fill",
    "fill_problem",
]

FillStrategy = Literal["median", "mean", "most_frequent", "refuse"]
InputKind = Literal["numeric", "categorical", "timestamp"]

# The model input kind of each contract type (bool is fed as 0/1).
KIND_OF_TYPE: dict[str, InputKind] = {
    "int": "numeric",
    "float": "numeric",
    "bool": "numeric",
    "string": "categorical",
    "category": "categorical",
    "timestamp": "timestamp",
}
# Strategies each input kind accepts ("constant" is written as {constant: VALUE}).
STRATEGIES: dict[str, tuple[str, ...]] = {
    "numeric": ("median", "mean", "most_frequent", "constant", "refuse"),
    "categorical": ("most_frequent", "constant", "refuse"),
    "timestamp": ("median", "mean", "most_frequent", "constant", "refuse"),
}


class Constant(Frozen):
    """Fill with one value: a number (numeric columns), a text (categorical) or an ISO date (timestamp)."""

    constant: float | str


Missing = FillStrategy | Constant


def _strategy(fill: Missing) -> str:
    return "constant" if isinstance(fill, Constant) else fill


def describe_fill(fill: Missing) -> str:
    """``median`` or ``constant '(missing)'``: how a policy reads in `spec push` and the model card."""
    return f"constant {fill.constant!r}" if isinstance(fill, Constant) else fill


def fill_problem(fill: Missing, column: ColumnSpec, where: str) -> str | None:
    """Why ``fill`` cannot apply to ``column`` (None when it can)."""
    kind = KIND_OF_TYPE[column.type]
    strategy = _strategy(fill)
    if strategy not in STRATEGIES[kind]:
        return f"{where}: {strategy} does not apply to {kind} column {column.name!r} ({', '.join(STRATEGIES[kind])})"
    if strategy == "refuse" and column.nullable:
        return (
            f"{where}: column {column.name!r} is nullable but its missing values are refused; "
            "make it non-nullable or choose a fill"
        )
    if isinstance(fill, Constant):
        value = fill.constant
        if kind == "numeric" and isinstance(value, str):
            return f"{where}: constant {value!r} for numeric column {column.name!r} must be a number"
        if kind == "categorical" and not isinstance(value, str):
            return f"{where}: constant {value!r} for categorical column {column.name!r} must be text (quote it)"
        if kind == "timestamp":
            try:
                parse_timestamp(str(value))
            except ValueError:
                return f"{where}: constant {value!r} for timestamp column {column.name!r} must be an ISO date"
    return None


class MissingSpec(Frozen):
    """``features.missing``: the fill of each input kind, and per-column overrides (which win over a
    transform's own ``missing``). Values are learnt on the training split and stored in the model."""

    numeric: Missing = "median"
    categorical: Missing = Field(default_factory=lambda: Constant(constant="(missing)"))
    timestamp: Missing = "median"
    columns: dict[str, Missing] = Field(default_factory=dict)

    @field_validator("numeric", "categorical", "timestamp")
    @classmethod
    def _fits_kind(cls, value: Missing, info: object) -> Missing:
        kind = getattr(info, "field_name", "")
        strategy = _strategy(value)
        if strategy not in STRATEGIES[kind]:
            raise ValueError(
                f"{strategy} does not apply to {kind} columns; choose one of {', '.join(STRATEGIES[kind])}"
            )
        return value

    def default_for(self, kind: str) -> Missing:
        """The fill of a column of this input kind that neither a transform nor ``columns`` overrides."""
        fill: Missing = getattr(self, kind)
        return fill
