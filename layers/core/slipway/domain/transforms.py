"""Spec transforms that scikit-learn lacks, fitted in training; their ONNX converters live in ``onnx_converters``."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from slipway.domain.model_input import MISSING_DAYS

__all__ = [
    "DATE_PARTS",
    "DAY0_SHIFT",
    "ERA_DAYS",
    "Clip",
    "DateParts",
    "FillMissing",
    "Log1p",
    "OneHotTop",
    "Ratio",
    "Standardize",
    "civil_from_days",
]

DATE_PARTS = ("year", "month", "day", "dayofweek")
DAY0_SHIFT = 719_468  # days from 0000-03-01 to 1970-01-01 (proleptic Gregorian)
ERA_DAYS = 146_097  # days in a 400-year cycle


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
        return np.asarray(np.clip(X, self.min, self.max))


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
    z = days + DAY0_SHIFT
    era = z // ERA_DAYS
    doe = z - era * ERA_DAYS
    yoe = (doe - doe // 1460 + doe // 36524 - doe // (ERA_DAYS - 1)) // 365
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
        return super().fit(X, y)

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


class FillMissing(_Transformer):
    """Fill the missing marker of text columns ("") or day-number columns (``MISSING_DAYS``) with a value learnt
    on the training split: ``most_frequent`` (ties to the smallest), ``median``/``mean`` (day numbers, floored),
    or ``constant`` (``fill_value``: a text, or a day number). Numbers use scikit-learn's SimpleImputer instead."""

    _dtype = None
    _finite = False

    def __init__(self, strategy: str = "most_frequent", fill_value: Any = None) -> None:
        self.strategy = strategy
        self.fill_value = fill_value

    def fit(self, X: Any, y: Any = None) -> FillMissing:
        """Learn one fill value per column."""
        data = self._check(X, reset=True)
        self.text_ = data.dtype == object
        marker = self.marker_
        self.statistics_: list[Any] = []
        for j in range(data.shape[1]):
            present = data[:, j][data[:, j] != marker]
            self.statistics_.append(self._learn(present.astype(str) if self.text_ else present.astype(np.int64)))
        return self

    @property
    def marker_(self) -> Any:
        """The value that means missing in these columns."""
        return "" if self.text_ else MISSING_DAYS

    def _learn(self, present: np.ndarray) -> Any:
        if self.strategy == "constant":
            return str(self.fill_value) if self.text_ else int(self.fill_value)
        if present.size == 0:  # nothing to learn from: text stays "", days become 1970-01-01
            return "" if self.text_ else 0
        if self.strategy == "most_frequent":
            values, counts = np.unique(present, return_counts=True)
            best = values[np.argmax(counts)]  # np.unique sorts, so ties go to the smallest
            return str(best) if self.text_ else int(best)
        if self.text_:
            raise ValueError(f"FillMissing strategy {self.strategy!r} does not apply to text columns")
        if self.strategy == "median":
            return int(np.floor(np.median(present.astype(np.float64))))
        if self.strategy == "mean":
            return int(np.floor(np.mean(present.astype(np.float64))))
        raise ValueError(f"unknown FillMissing strategy {self.strategy!r}")

    def _apply(self, X: np.ndarray) -> np.ndarray:
        data = X.astype(object if self.text_ else np.int64)
        fill = np.asarray(self.statistics_, dtype=data.dtype).reshape(1, -1)
        return np.where(data == self.marker_, fill, data)
