"""From a curated table to model-ready matrices: feature inputs, the exact model input frame, the split and the
preprocessor fitted on the training rows only, so training and ONNX serving see the same columns."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.compose import ColumnTransformer

# The numpy-only half (rows to onnxruntime inputs) lives in model_input for the infer Lambda; re-exported here.
from slipway.domain.categories import Label
from slipway.domain.model_input import FeatureInput, InputKind, input_dtype, model_input_from_records
from slipway.domain.preprocessor import build_preprocessor, learnt_fills
from slipway.domain.table_input import categorical_values as _categorical
from slipway.domain.table_input import numeric_values as _numeric
from slipway.domain.table_input import timestamp_days as _days
from slipway.spec import DataContract
from slipway.spec.features import FeaturesSpec, SplitSpec, check_features, check_split, input_columns, resolve_missing

__all__ = [
    "FEATURES_FORMAT",
    "FeatureInput",
    "FittedFeatures",
    "InputKind",
    "build_preprocessor",
    "class_labels",
    "encode_labels",
    "feature_columns",
    "feature_set_id",
    "fit_features",
    "model_input_columns",
    "model_input_frame",
    "model_input_from_records",
    "split_rows",
]

# Bumped whenever the way features are computed changes, so old feature-set ids are not reused.
# 2: classification targets stored as label codes, random splits stratified by class, explicit missing fills.
FEATURES_FORMAT = 2
type Data = pa.Table | pd.DataFrame
_KINDS: dict[str, InputKind] = {
    "int": "numeric",
    "float": "numeric",
    "bool": "numeric",
    "string": "categorical",
    "category": "categorical",
    "timestamp": "timestamp",
}


def feature_columns(contract: DataContract, features: FeaturesSpec) -> list[FeatureInput]:
    """Contract columns the model reads, in contract order: all but target, entity id, PII and excluded ones;
    those whose fill is ``refuse`` are marked so that a missing value is an error at prediction time."""
    fills = resolve_missing(features, contract)
    return [
        FeatureInput(c.name, _KINDS[c.type], refuse_missing=fills[c.name] == "refuse")
        for c in input_columns(contract, features)
    ]


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
    timestamps int64 days since 1970-01-01 (nulls MISSING_DAYS). Accepts a curated table, a frame, or JSON-like
    rows. A null in an input whose fill is ``refuse`` is a ValueError naming the column."""
    if not isinstance(table, (pa.Table, pd.DataFrame)):
        columns = model_input_from_records(list(table), inputs)
        return pd.DataFrame({i.name: pd.Series(columns[i.name].ravel(), dtype=input_dtype(i)) for i in inputs})
    convert = {"numeric": _numeric, "categorical": _categorical, "timestamp": _days}
    for i in inputs:
        if i.refuse_missing and pc.any(pc.is_null(_column(table, i.name), nan_is_null=True)).as_py():
            raise ValueError(f"column {i.name!r} has missing values, and the model refuses missing values there")
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


def _stratified(strata: np.ndarray, split: SplitSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each class split on its own in the spec's proportions (seeded), keeping at least one row of every class
    in train, so that the model knows every label and every split keeps the class balance."""
    rng = np.random.default_rng(split.seed)
    parts: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]] = ([], [], [])
    for label in np.unique(strata):
        members = np.flatnonzero(strata == label)
        members = members[rng.permutation(len(members))]
        m = len(members)
        n_test, n_valid = round(m * split.test), round(m * split.valid)
        while n_test + n_valid > m - 1 and n_test + n_valid > 0:  # train keeps one
            if n_valid >= n_test:
                n_valid -= 1
            else:
                n_test -= 1
        parts[0].append(members[:n_test])
        parts[1].append(members[n_test : n_test + n_valid])
        parts[2].append(members[n_test + n_valid :])
    test, valid, train = (np.concatenate(p) if p else np.zeros(0, np.int64) for p in parts)
    return test, valid, train


def split_rows(
    table: Data | None, split: SplitSpec, n_rows: int | None = None, strata: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Sorted row indices of "train", "valid" and "test": disjoint, covering every row, and the same for the
    same inputs. Random: a seeded permutation, per class of ``strata`` when given (a classification target).
    Time: oldest rows train, newest rows test (ties by row order)."""
    n = n_rows if n_rows is not None else (0 if table is None else table.shape[0])
    n_test, n_valid = round(n * split.test), round(n * split.valid)
    if split.method == "random" and strata is not None:
        test, valid, train = _stratified(np.asarray(strata), split)
    elif split.method == "random":
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


# --- labels ---------------------------------------------------------------------------------------------------


def _plain(value: Any) -> Label:
    return value.item() if isinstance(value, np.generic) else value  # type: ignore[no-any-return]  # numpy's item() is untyped


def class_labels(values: np.ndarray) -> list[Label]:
    """The distinct labels of a classification target, sorted as scikit-learn orders classes; ValueError on a
    missing one."""
    distinct = {_plain(v) for v in values.tolist()}
    if None in distinct or any(isinstance(v, float) for v in distinct):
        raise ValueError("a classification target has missing values; every row needs a label")
    return sorted(distinct)


def encode_labels(values: Any, labels: list[Label]) -> np.ndarray:
    """Each value's place in ``labels`` (the model's class code), -1 for a value that is not a label."""
    index = {label: code for code, label in enumerate(labels)}
    array = values.to_numpy(zero_copy_only=False) if hasattr(values, "to_numpy") else np.asarray(values)
    return np.asarray([index.get(_plain(v), -1) for v in array.tolist()], dtype=np.int64)


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
    """Everything training needs: inputs, split rows, the preprocessor fitted on train rows, matrices, targets
    (label codes for classification, with ``labels`` in code order), and the missing-value fills it learnt."""

    inputs: list[FeatureInput]
    split: dict[str, np.ndarray]
    preprocessor_: ColumnTransformer
    transformed: dict[str, np.ndarray]
    feature_names: list[str]
    target: dict[str, np.ndarray]
    labels: list[Label] | None = None
    fills: list[dict[str, Any]] = field(default_factory=list)


def _target(data: Data, name: str) -> np.ndarray:
    col = _column(data, name)
    if pa.types.is_dictionary(col.type):
        col = col.cast(pa.string())
    return np.asarray(col.to_numpy(zero_copy_only=False))


def fit_features(
    table: Data, contract: DataContract, features: FeaturesSpec, split: SplitSpec, task: str = "regression"
) -> FittedFeatures:
    """Check the spec against the contract, split the rows (by class for a classification target), fit the
    preprocessor on the train rows only and transform every split to a float32 matrix."""
    check_features(features, contract)
    check_split(split, contract)
    fills = resolve_missing(features, contract)
    inputs = feature_columns(contract, features)
    frame = model_input_frame(table, inputs)
    target = _target(table, contract.target)
    labels = class_labels(target) if task == "classification" else None
    if labels is not None:
        target = encode_labels(target, labels)
    rows = split_rows(table, split, frame.shape[0], strata=target if labels is not None else None)
    if len(rows["train"]) == 0:
        raise ValueError("the train split is empty")
    preprocessor = build_preprocessor(inputs, features, fills).fit(frame.iloc[rows["train"]])
    names = [str(n) for n in preprocessor.get_feature_names_out()]
    transformed = {
        part: (
            np.asarray(preprocessor.transform(frame.iloc[idx]), dtype=np.float32)
            if len(idx)
            else np.zeros((0, len(names)), dtype=np.float32)
        )
        for part, idx in rows.items()
    }
    return FittedFeatures(
        inputs,
        rows,
        preprocessor,
        transformed,
        names,
        {k: target[v] for k, v in rows.items()},
        labels,
        learnt_fills(preprocessor, inputs, fills),
    )
