"""From a curated table to model-ready matrices: feature inputs, the exact model input frame, the split and the
preprocessor fitted on the training rows only, so training and ONNX serving see the same columns."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import KBinsDiscretizer, OneHotEncoder

# The numpy-only half (rows to onnxruntime inputs) lives in model_input for the infer Lambda; re-exported here.
from slipway.domain.model_input import FeatureInput, InputKind, input_dtype, model_input_from_records
from slipway.domain.table_input import categorical_values as _categorical
from slipway.domain.table_input import numeric_values as _numeric
from slipway.domain.table_input import timestamp_days as _days
from slipway.domain.transforms import Clip, DateParts, Log1p, OneHotTop, Ratio, Standardize
from slipway.spec import DataContract
from slipway.spec.features import FeaturesSpec, SplitSpec, Transform, check_features, check_split
from slipway.spec.features import Ratio as RatioSpec

__all__ = [
    "FEATURES_FORMAT",
    "FeatureInput",
    "FittedFeatures",
    "InputKind",
    "build_preprocessor",
    "feature_columns",
    "feature_set_id",
    "fit_features",
    "model_input_columns",
    "model_input_frame",
    "model_input_from_records",
    "split_rows",
]

# Bumped whenever the way features are computed changes, so old feature-set ids are not reused.
FEATURES_FORMAT = 1
type Data = pa.Table | pd.DataFrame
_KINDS: dict[str, InputKind] = {
    "int": "numeric",
    "float": "numeric",
    "bool": "numeric",
    "string": "categorical",
    "category": "categorical",
    "timestamp": "timestamp",
}
_DEFAULT_DATE_PARTS = ("year", "month", "dayofweek")


def feature_columns(contract: DataContract, features: FeaturesSpec) -> list[FeatureInput]:
    """Contract columns the model reads, in contract order: all but target, entity id, PII and excluded ones."""
    skip = {contract.target, contract.entity_id, *features.exclude}
    return [FeatureInput(c.name, _KINDS[c.type]) for c in contract.columns if c.name not in skip and c.pii == "keep"]


# --- model input ----------------------------------------------------------------------------------------------


def _column(data: Data, name: str) -> pa.ChunkedArray | pa.Array:
    if isinstance(data, pa.Table):
        if name not in data.column_names:
            raise ValueError(f"the table has no column {name!r}")
        return data.column(name)
    if name not in data.columns:
        raise ValueError(f"the frame has no column {name!r}")
    return pa.array(data[name], from_pandas=True)


def model_input_frame(table: Data | Sequence[Mapping[str, Any]], inputs: list[FeatureInput]) -> pd.DataFrame:
    """The exact frame the sklearn pipeline sees: numeric float32 (nulls NaN), categorical strings (nulls ""),
    timestamps int64 days since 1970-01-01 (nulls 0). Accepts a curated table, a frame, or JSON-like rows."""
    if not isinstance(table, (pa.Table, pd.DataFrame)):
        columns = model_input_from_records(list(table), inputs)
        return pd.DataFrame({i.name: pd.Series(columns[i.name].ravel(), dtype=input_dtype(i)) for i in inputs})
    convert = {"numeric": _numeric, "categorical": _categorical, "timestamp": _days}
    series = {i.name: pd.Series(convert[i.kind](_column(table, i.name)), dtype=input_dtype(i)) for i in inputs}
    return pd.DataFrame(series, index=pd.RangeIndex(table.shape[0]))


def model_input_columns(frame: pd.DataFrame, inputs: list[FeatureInput]) -> dict[str, np.ndarray]:
    """onnxruntime inputs, one ``(n, 1)`` array per column, from a ``model_input_frame``."""
    return {i.name: np.asarray(frame[i.name].to_numpy(), dtype=input_dtype(i)).reshape(-1, 1) for i in inputs}


# --- split ----------------------------------------------------------------------------------------------------


def _order_key(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Sortable values, nulls first (the oldest)."""
    if pa.types.is_timestamp(col.type):
        raw = pc.fill_null(col.cast(pa.int64()), np.iinfo(np.int64).min)
        return np.asarray(raw.to_numpy(zero_copy_only=False), dtype=np.int64)
    values = _numeric(col).astype(np.float64)
    return np.where(np.isnan(values), -np.inf, values)


def split_rows(table: Data | None, split: SplitSpec, n_rows: int | None = None) -> dict[str, np.ndarray]:
    """Sorted row indices of "train", "valid" and "test": disjoint, covering every row, and the same for the
    same inputs. Random: a seeded permutation. Time: oldest rows train, newest rows test (ties by row order)."""
    n = n_rows if n_rows is not None else (0 if table is None else table.shape[0])
    n_test, n_valid = round(n * split.test), round(n * split.valid)
    if split.method == "random":
        order = np.random.default_rng(split.seed).permutation(n)
        test, valid, train = order[:n_test], order[n_test : n_test + n_valid], order[n_test + n_valid :]
    else:
        if table is None or split.column is None:
            raise ValueError("a time split needs the table and split.column")
        key = _order_key(_column(table, split.column))
        if len(key) != n:
            raise ValueError(f"n_rows ({n}) differs from the table's {len(key)} rows")
        order = np.lexsort((np.arange(n), key))
        n_train = n - n_valid - n_test
        train, valid, test = order[:n_train], order[n_train : n_train + n_valid], order[n_train + n_valid :]
    return {name: np.sort(rows).astype(np.int64) for name, rows in (("train", train), ("valid", valid), ("test", test))}


# --- preprocessor ---------------------------------------------------------------------------------------------


def _step(transform: Transform) -> Any:
    if transform.kind == "standardize":
        return Standardize()
    if transform.kind == "log":
        return Log1p()
    if transform.kind == "clip":
        return Clip(min=transform.min, max=transform.max)
    if transform.kind == "bucketize":
        return KBinsDiscretizer(
            n_bins=transform.bins,
            encode="onehot-dense",
            strategy="quantile",
            quantile_method="averaged_inverted_cdf",
            subsample=None,
        )
    if transform.kind == "one_hot":
        return OneHotTop(max_categories=transform.max_categories)
    if transform.kind == "date_parts":
        return DateParts(parts=tuple(transform.parts))
    raise ValueError(f"no step for transform {transform.kind!r}")


def _imputer() -> SimpleImputer:
    return SimpleImputer(strategy="median", keep_empty_features=True)


def _default(kind: InputKind) -> Any:
    if kind == "numeric":
        return _imputer()
    if kind == "categorical":
        return OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    return DateParts(parts=_DEFAULT_DATE_PARTS)


def _chains(inputs: list[FeatureInput], features: FeaturesSpec) -> dict[str, list[Transform]]:
    kinds = {i.name: i.kind for i in inputs}
    chains: dict[str, list[Transform]] = {i.name: [] for i in inputs}
    for transform in features.transforms:
        for name in transform.columns:
            if name not in kinds:
                raise ValueError(f"transform {transform.kind}: column {name!r} is not a feature input")
            if isinstance(transform, RatioSpec):
                if kinds[name] != "numeric":
                    raise ValueError(f"ratio {transform.name!r}: column {name!r} is not numeric")
                continue
            chains[name].append(transform)
    return chains


def build_preprocessor(inputs: list[FeatureInput], features: FeaturesSpec) -> ColumnTransformer:
    """An unfitted ColumnTransformer: each column's spec transforms in declaration order (numeric columns
    median-imputed first); defaults: numeric → impute, categorical → one-hot, timestamp → year/month/weekday.
    Columns with the same treatment share one transformer; ratios come last."""
    chains = _chains(inputs, features)
    groups: dict[str, tuple[list[str], Any]] = {}
    for feature in inputs:
        chain = chains[feature.name]
        key = json.dumps([feature.kind, [t.model_dump(mode="json", exclude={"columns"}) for t in chain]])
        if key not in groups:
            steps = [(f"{t.kind}", _step(t)) for t in chain]
            if feature.kind == "numeric":
                steps.insert(0, ("impute", _imputer()))
            if not chain:
                steps = [("default", _default(feature.kind))]
            groups[key] = ([], steps[0][1] if len(steps) == 1 else Pipeline(steps))
        groups[key][0].append(feature.name)
    transformers = [(f"t{n}", est, cols) for n, (cols, est) in enumerate(groups.values())]
    for transform in features.transforms:
        if isinstance(transform, RatioSpec):
            ratio = Pipeline([("impute", _imputer()), ("ratio", Ratio(name=transform.name))])
            transformers.append((f"t{len(transformers)}", ratio, transform.columns))
    return ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0, verbose_feature_names_out=False)


# --- identity and fitting -------------------------------------------------------------------------------------


def feature_set_id(dataset_version: str, features: FeaturesSpec, split: SplitSpec, inputs: list[FeatureInput]) -> str:
    """SHA-256 hex of the canonical JSON of everything that decides the feature matrices."""
    document = {
        "format": FEATURES_FORMAT,
        "dataset_version": dataset_version,
        "features": features.model_dump(mode="json"),
        "split": split.model_dump(mode="json"),
        "inputs": [[i.name, i.kind] for i in inputs],
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass
class FittedFeatures:
    """Everything training needs: inputs, split rows, the preprocessor fitted on train rows, matrices, targets."""

    inputs: list[FeatureInput]
    split: dict[str, np.ndarray]
    preprocessor_: ColumnTransformer
    transformed: dict[str, np.ndarray]
    feature_names: list[str]
    target: dict[str, np.ndarray]


def _target(data: Data, name: str) -> np.ndarray:
    col = _column(data, name)
    if pa.types.is_dictionary(col.type):
        col = col.cast(pa.string())
    return np.asarray(col.to_numpy(zero_copy_only=False))


def fit_features(table: Data, contract: DataContract, features: FeaturesSpec, split: SplitSpec) -> FittedFeatures:
    """Check the spec against the contract, split the rows, fit the preprocessor on the train rows only and
    transform every split to a float32 matrix."""
    check_features(features, contract)
    check_split(split, contract)
    inputs = feature_columns(contract, features)
    frame = model_input_frame(table, inputs)
    rows = split_rows(table, split, frame.shape[0])
    if len(rows["train"]) == 0:
        raise ValueError("the train split is empty")
    preprocessor = build_preprocessor(inputs, features).fit(frame.iloc[rows["train"]])
    names = [str(n) for n in preprocessor.get_feature_names_out()]
    transformed = {
        part: (
            np.asarray(preprocessor.transform(frame.iloc[idx]), dtype=np.float32)
            if len(idx)
            else np.zeros((0, len(names)), dtype=np.float32)
        )
        for part, idx in rows.items()
    }
    target = _target(table, contract.target)
    return FittedFeatures(inputs, rows, preprocessor, transformed, names, {k: target[v] for k, v in rows.items()})
