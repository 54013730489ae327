"""Spec transforms that scikit-learn lacks, each with an ONNX converter so serving runs the same maths as training."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = [
    "DATE_PARTS",
    "Clip",
    "DateParts",
    "Log1p",
    "OneHotTop",
    "Ratio",
    "Standardize",
    "civil_from_days",
    "register_onnx_converters",
]

DATE_PARTS = ("year", "month", "day", "dayofweek")
_DAY0_SHIFT = 719_468  # days from 0000-03-01 to 1970-01-01 (proleptic Gregorian)
_ERA_DAYS = 146_097  # days in a 400-year cycle


class _Transformer(TransformerMixin, BaseEstimator):
    """Shared input checks; subclasses set ``_dtype`` and implement ``_apply`` and ``_names``."""

    _dtype: Any = (np.float64, np.float32)
    _finite: bool | str = "allow-nan"

    def _check(self, X: Any, reset: bool) -> np.ndarray:
        return np.asarray(validate_data(self, X, reset=reset, dtype=self._dtype, ensure_all_finite=self._finite))

    def fit(self, X: Any, y: Any = None) -> _Transformer:
        """Record the input width and names; stateless transforms learn nothing else."""
        self._check(X, reset=True)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Apply the transform to a 2-D input of the width seen at fit."""
        check_is_fitted(self)
        return self._apply(self._check(X, reset=False))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Output column names derived from the input names."""
        check_is_fitted(self)
        names = getattr(self, "feature_names_in_", None)
        if input_features is not None:
            names = np.asarray(input_features, dtype=object)
        if names is None:
            names = np.asarray([f"x{i}" for i in range(self.n_features_in_)], dtype=object)
        return np.asarray(self._names([str(n) for n in names]), dtype=object)

    def _apply(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _names(self, names: list[str]) -> list[str]:
        return names


def _float_out(X: np.ndarray, result: np.ndarray) -> np.ndarray:
    """Keep float32 inputs float32 (as scikit-learn scalers do); compute in float64 before rounding."""
    return result.astype(np.float32 if X.dtype == np.float32 else np.float64, copy=False)


class Standardize(_Transformer):
    """(x - mean) / std with train statistics, computed in float64 and rounded once, so that the ONNX graph
    (same float64 operations) gives bit-identical features and tree splits fall the same way on both sides."""

    def fit(self, X: Any, y: Any = None) -> Standardize:
        """Learn the column means and standard deviations (1 where a column is constant)."""
        data = self._check(X, reset=True).astype(np.float64)
        self.mean_ = np.nan_to_num(np.nanmean(data, axis=0)) if len(data) else np.zeros(data.shape[1])
        scale = np.nan_to_num(np.nanstd(data, axis=0)) if len(data) else np.ones(data.shape[1])
        self.scale_ = np.where(scale > 0, scale, 1.0)
        return self

    def _apply(self, X: np.ndarray) -> np.ndarray:
        return _float_out(X, (X.astype(np.float64) - self.mean_) / self.scale_)


class Log1p(_Transformer):
    """log(1 + x), negative values clipped at 0 first."""

    def _apply(self, X: np.ndarray) -> np.ndarray:
        return _float_out(X, np.log1p(np.maximum(X.astype(np.float64), 0.0)))


class Clip(_Transformer):
    """Clip values into [min, max]; ``None`` leaves that side open."""

    def __init__(self, min: float | None = None, max: float | None = None) -> None:
        self.min = min
        self.max = max

    def _apply(self, X: np.ndarray) -> np.ndarray:
        return np.clip(X, self.min, self.max)


class Ratio(_Transformer):
    """Column 0 divided by column 1 of a 2-column input, 0 where the denominator is 0."""

    def __init__(self, name: str = "ratio") -> None:
        self.name = name

    def fit(self, X: Any, y: Any = None) -> Ratio:
        """Check that the input has exactly two columns (numerator, denominator)."""
        if self._check(X, reset=True).shape[1] != 2:
            raise ValueError(f"Ratio {self.name!r} needs 2 columns (numerator, denominator), got {self.n_features_in_}")
        return self

    def _apply(self, X: np.ndarray) -> np.ndarray:
        num, den = X[:, 0].astype(np.float64), X[:, 1].astype(np.float64)
        out = np.zeros_like(num)
        np.divide(num, den, out=out, where=den != 0)
        return _float_out(X, out.reshape(-1, 1))

    def _names(self, names: list[str]) -> list[str]:
        return [self.name]


def civil_from_days(days: np.ndarray) -> dict[str, np.ndarray]:
    """Year, month, day and ISO weekday (Monday = 0) of int64 days since 1970-01-01, by integer arithmetic."""
    z = days + _DAY0_SHIFT
    era = z // _ERA_DAYS
    doe = z - era * _ERA_DAYS
    yoe = (doe - doe // 1460 + doe // 36524 - doe // (_ERA_DAYS - 1)) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    month = mp + 3 - 12 * (mp >= 10)
    return {
        "year": yoe + era * 400 + (month <= 2),
        "month": month,
        "day": doy - (153 * mp + 2) // 5 + 1,
        "dayofweek": (days + 3) % 7,
    }


class DateParts(_Transformer):
    """Calendar parts of int64 "days since 1970-01-01" columns, as floats (column by column, part by part)."""

    _dtype = np.int64
    _finite = True

    def __init__(self, parts: tuple[str, ...] | list[str] = ("year", "month", "dayofweek")) -> None:
        self.parts = parts

    def fit(self, X: Any, y: Any = None) -> DateParts:
        """Check the parts and record the input width."""
        unknown = [p for p in self.parts if p not in DATE_PARTS]
        if unknown or not self.parts:
            raise ValueError(f"DateParts parts must be a non-empty subset of {DATE_PARTS}, got {list(self.parts)}")
        return super().fit(X, y)  # type: ignore[return-value]

    def _apply(self, X: np.ndarray) -> np.ndarray:
        parts = civil_from_days(X.astype(np.int64))
        stacked = np.stack([parts[p] for p in self.parts], axis=2)
        return stacked.reshape(X.shape[0], -1).astype(np.float64)

    def _names(self, names: list[str]) -> list[str]:
        return [f"{n}_{p}" for n in names for p in self.parts]


class OneHotTop(_Transformer):
    """One-hot of string columns keeping the ``max_categories - 1`` most frequent values when there are more;
    the rest, and values unseen at fit, go to one "infrequent" column (all zeros when nothing was cut)."""

    _dtype = None
    _finite = False

    def __init__(self, max_categories: int = 20) -> None:
        self.max_categories = max_categories

    def fit(self, X: Any, y: Any = None) -> OneHotTop:
        """Learn, per column, the kept categories (sorted) and whether an infrequent column exists."""
        if self.max_categories < 2:
            raise ValueError("max_categories must be at least 2")
        data = self._check(X, reset=True).astype(str)
        self.categories_: list[np.ndarray] = []
        self.infrequent_: list[bool] = []
        for j in range(data.shape[1]):
            values, counts = np.unique(data[:, j], return_counts=True)
            cut = len(values) > self.max_categories
            if cut:
                order = np.lexsort((values, -counts))  # most frequent first, ties by value
                values = np.sort(values[order[: self.max_categories - 1]])
            self.categories_.append(values.astype(object))
            self.infrequent_.append(bool(cut))
        return self

    def _apply(self, X: np.ndarray) -> np.ndarray:
        data = X.astype(str)
        blocks = []
        for j, cats in enumerate(self.categories_):
            hot = (data[:, j : j + 1] == cats.astype(str)[None, :]).astype(np.float64)
            blocks.append(hot)
            if self.infrequent_[j]:
                blocks.append(1.0 - hot.sum(axis=1, keepdims=True))
        return np.hstack(blocks) if blocks else np.zeros((X.shape[0], 0))

    def _names(self, names: list[str]) -> list[str]:
        out: list[str] = []
        for name, cats, infrequent in zip(names, self.categories_, self.infrequent_, strict=True):
            out.extend(f"{name}_{c}" for c in cats)
            if infrequent:
                out.append(f"{name}_infrequent")
        return out

    @property
    def n_outputs_(self) -> int:
        """Number of output columns."""
        return sum(len(c) + int(i) for c, i in zip(self.categories_, self.infrequent_, strict=True))


# --- ONNX ---------------------------------------------------------------------------------------------------


class _Graph:
    """Tiny helper over skl2onnx's scope/container: named constants and single-output nodes."""

    def __init__(self, scope: Any, container: Any) -> None:
        self.scope, self.container = scope, container

    def const(self, value: Any, dtype: Any) -> str:
        from onnx import helper

        array = np.asarray(value, dtype=dtype)
        name = self.scope.get_unique_variable_name("c")
        proto_type = helper.np_dtype_to_tensor_dtype(array.dtype)
        self.container.add_initializer(name, proto_type, list(array.shape), array.ravel().tolist())
        return name

    def op(self, op_type: str, *inputs: str, out: str | None = None, domain: str = "", **attrs: Any) -> str:
        name = out or self.scope.get_unique_variable_name(op_type.lower())
        node = self.scope.get_unique_operator_name(op_type)
        self.container.add_node(op_type, list(inputs), [name], op_domain=domain, name=node, **attrs)
        return name

    def cast(self, value: str, dtype: Any, out: str | None = None) -> str:
        from onnx import helper

        return self.op("Cast", value, out=out, to=helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))


def _io(operator: Any) -> tuple[str, str]:
    return operator.inputs[0].full_name, operator.outputs[0].full_name


def _convert_standardize(scope: Any, operator: Any, container: Any) -> None:
    g, (x, y) = _Graph(scope, container), _io(operator)
    est = operator.raw_operator
    centred = g.op("Sub", g.cast(x, np.float64), g.const(est.mean_.reshape(1, -1), np.float64))
    g.cast(g.op("Div", centred, g.const(est.scale_.reshape(1, -1), np.float64)), np.float32, out=y)


def _convert_log1p(scope: Any, operator: Any, container: Any) -> None:
    g, (x, y) = _Graph(scope, container), _io(operator)
    x64 = g.cast(x, np.float64)
    positive = g.op("Max", x64, g.const([0.0], np.float64))
    g.cast(g.op("Log", g.op("Add", positive, g.const([1.0], np.float64))), np.float32, out=y)


def _convert_clip(scope: Any, operator: Any, container: Any) -> None:
    g, (x, y) = _Graph(scope, container), _io(operator)
    est = operator.raw_operator
    if est.min is not None:
        x = g.op("Max", x, g.const([est.min], np.float32), out=y if est.max is None else None)
    if est.max is not None:
        g.op("Min", x, g.const([est.max], np.float32), out=y)


def _convert_ratio(scope: Any, operator: Any, container: Any) -> None:
    g, (x, y) = _Graph(scope, container), _io(operator)
    x64 = g.cast(x, np.float64)
    num = g.op("Gather", x64, g.const([0], np.int64), axis=1)
    den = g.op("Gather", x64, g.const([1], np.int64), axis=1)
    zero = g.const([0.0], np.float64)
    safe = g.op("Where", g.op("Equal", den, zero), zero, g.op("Div", num, den))
    g.cast(safe, np.float32, out=y)


def _convert_date_parts(scope: Any, operator: Any, container: Any) -> None:
    g, (x, y) = _Graph(scope, container), _io(operator)

    def k(v: int) -> str:
        return g.const([v], np.int64)

    def floordiv(a: str, d: int) -> str:  # exact for any sign: (a - a mod d) / d, mod with the divisor's sign
        return g.op("Div", g.op("Sub", a, g.op("Mod", a, k(d), fmod=0)), k(d))

    def div(a: str, d: int) -> str:  # operands are non-negative here, so truncation equals floor
        return g.op("Div", a, k(d))

    def mul(a: str, c: int) -> str:
        return g.op("Mul", a, k(c))

    days = g.cast(x, np.int64)
    z = g.op("Add", days, k(_DAY0_SHIFT))
    era = floordiv(z, _ERA_DAYS)
    doe = g.op("Sub", z, mul(era, _ERA_DAYS))
    yoe_num = g.op("Sub", g.op("Add", g.op("Sub", doe, div(doe, 1460)), div(doe, 36524)), div(doe, _ERA_DAYS - 1))
    yoe = div(yoe_num, 365)
    doy = g.op("Sub", doe, g.op("Sub", g.op("Add", mul(yoe, 365), div(yoe, 4)), div(yoe, 100)))
    mp = div(g.op("Add", mul(doy, 5), k(2)), 153)
    wraps = g.cast(g.op("GreaterOrEqual", mp, k(10)), np.int64)
    month = g.op("Sub", g.op("Add", mp, k(3)), mul(wraps, 12))
    parts = {
        "year": g.op("Add", g.op("Add", yoe, mul(era, 400)), g.cast(g.op("Less", month, k(3)), np.int64)),
        "month": month,
        "day": g.op("Add", g.op("Sub", doy, div(g.op("Add", mul(mp, 153), k(2)), 5)), k(1)),
        "dayofweek": g.op("Mod", g.op("Add", days, k(3)), k(7), fmod=0),
    }
    axis = g.const([2], np.int64)
    chosen = [g.op("Unsqueeze", parts[p], axis) for p in operator.raw_operator.parts]
    stacked = chosen[0] if len(chosen) == 1 else g.op("Concat", *chosen, axis=2)
    flat = g.op("Reshape", stacked, g.const([0, -1], np.int64))
    g.cast(flat, np.float32, out=y)


def _convert_one_hot_top(scope: Any, operator: Any, container: Any) -> None:
    g, (x, y) = _Graph(scope, container), _io(operator)
    est = operator.raw_operator
    blocks = []
    for j, (cats, infrequent) in enumerate(zip(est.categories_, est.infrequent_, strict=True)):
        column = g.op("Gather", x, g.const([j], np.int64), axis=1)
        hot3 = g.op("OneHotEncoder", column, domain="ai.onnx.ml", cats_strings=[str(c) for c in cats], zeros=1)
        hot = g.op("Reshape", hot3, g.const([-1, len(cats)], np.int64))
        blocks.append(hot)
        if infrequent:
            seen = g.op("ReduceSum", hot, g.const([1], np.int64), keepdims=1)
            blocks.append(g.op("Sub", g.const([1.0], np.float32), seen))
    if len(blocks) == 1:
        g.op("Identity", blocks[0], out=y)
    else:
        g.op("Concat", *blocks, out=y, axis=1)


def _shape(width: Any) -> Any:
    def calculate(operator: Any) -> None:
        from skl2onnx.common.data_types import FloatTensorType

        rows = operator.inputs[0].get_first_dimension()
        operator.outputs[0].type = FloatTensorType([rows, width(operator.raw_operator)])

    return calculate


_REGISTERED = False


def register_onnx_converters() -> None:
    """Teach skl2onnx these transformers (once per process; later calls do nothing)."""
    global _REGISTERED
    if _REGISTERED:
        return
    from skl2onnx import update_registered_converter

    table = [
        (Standardize, _convert_standardize, lambda est: est.n_features_in_),
        (Log1p, _convert_log1p, lambda est: est.n_features_in_),
        (Clip, _convert_clip, lambda est: est.n_features_in_),
        (Ratio, _convert_ratio, lambda est: 1),
        (DateParts, _convert_date_parts, lambda est: est.n_features_in_ * len(est.parts)),
        (OneHotTop, _convert_one_hot_top, lambda est: est.n_outputs_),
    ]
    for cls, convert, width in table:
        update_registered_converter(cls, f"Slipway{cls.__name__}", _shape(width), convert)
    _REGISTERED = True
