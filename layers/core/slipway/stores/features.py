"""The feature store: a fitted feature set written once under its content hash (preprocessor,
split, one matrix per split, a typed manifest) and read back by the train, evaluate and register
steps, so no step imports another."""

from __future__ import annotations

from dataclasses import asdict
from functools import partial
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from pydantic import Field

from slipway import layout
from slipway.contracts.training import FeatureSetRef
from slipway.domain.artifacts_codec import dump_model, load_model
from slipway.domain.features import FittedFeatures
from slipway.domain.model_input import FeatureInput
from slipway.objects import S3Object
from slipway.ports import Deps
from slipway.schema import Frozen
from slipway.stores.artifacts import PARQUET, parquet_bytes, put_if_absent, read_parquet

SPLITS = ("train", "valid", "test")
TARGET_COLUMN = "__target__"
type SplitName = Literal["train", "valid", "test"]


class InputColumn(Frozen):
    """One model input as the manifest and the registry record it."""

    name: str
    kind: Literal["numeric", "categorical", "timestamp"]
    refuse_missing: bool = False  # the spec's fill is ``refuse``: a prediction without this value is an error


class FeatureSetManifest(Frozen):
    feature_names: list[str]
    inputs: list[InputColumn]
    rows: dict[str, int]
    labels: list[bool | int | str] | None = None  # classification: the target's labels, in class-code order
    fills: list[dict[str, Any]] = Field(
        default_factory=list
    )  # each input's missing-value fill and the value learnt on train

    def feature_inputs(self) -> list[FeatureInput]:
        return [FeatureInput(i.name, i.kind, i.refuse_missing) for i in self.inputs]


def feature_inputs(raw: list[dict[str, str]]) -> list[FeatureInput]:
    """Inputs as stored on a registry item (``[{"name", "kind"}]``)."""
    return [FeatureInput(i.name, i.kind, i.refuse_missing) for i in (InputColumn.model_validate(r) for r in raw)]


def _file(deps: Deps, model: str, feature_set: str, name: str) -> S3Object:
    return layout.feature_set_file(deps.settings.lake_bucket, model, feature_set, name)


def write_feature_set(deps: Deps, model: str, feature_set: str, fitted: FittedFeatures) -> str:
    """Write every file of a feature set once (content-addressed: a retried step keeps what an earlier
    attempt wrote); returns its prefix URI. The manifest is written last, so a feature set with a manifest
    is complete."""
    store = deps.store
    put_if_absent(store, _file(deps, model, feature_set, layout.PREPROCESSOR), lambda: dump_model(fitted.preprocessor_))
    split_rows = np.concatenate([fitted.split[name] for name in SPLITS])
    split_names = np.concatenate([[name] * len(fitted.split[name]) for name in SPLITS])
    split = pa.table({"row": pa.array(split_rows, pa.int64()), "split": pa.array(split_names, pa.string())})
    put_if_absent(store, _file(deps, model, feature_set, layout.SPLIT), lambda: parquet_bytes(split), PARQUET)
    for name in SPLITS:
        put_if_absent(
            store,
            _file(deps, model, feature_set, layout.split_file(name)),
            partial(_split_bytes, fitted, name),
            PARQUET,
        )
    manifest = FeatureSetManifest(
        feature_names=list(fitted.feature_names),
        inputs=[InputColumn.model_validate(asdict(i)) for i in fitted.inputs],
        rows={n: len(fitted.split[n]) for n in SPLITS},
        labels=fitted.labels,
        fills=fitted.fills,
    )
    manifest_obj = _file(deps, model, feature_set, layout.MANIFEST)
    if not store.exists(manifest_obj):
        store.put_json(manifest_obj, manifest.model_dump(mode="json"))
    return layout.feature_set_uri(deps.settings.lake_bucket, model, feature_set)


def split_table(fitted: FittedFeatures, name: str) -> pa.Table:
    """One split as stored: a float32 column per feature, then the target (label codes for classification)."""
    matrix = fitted.transformed[name]
    columns = {n: pa.array(matrix[:, j]) for j, n in enumerate(fitted.feature_names)}
    columns[TARGET_COLUMN] = pa.array(np.asarray(fitted.target[name]))
    return pa.table(columns)


def split_arrays(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """The feature matrix and target of a ``split_table``, as training reads them; reproduce reads its refit
    through this same function, so both fit on bit-identical arrays of the same layout."""
    target = table.column(TARGET_COLUMN).to_numpy()
    matrix = np.column_stack([table.column(i).to_numpy() for i in range(table.num_columns - 1)])
    return matrix.astype(np.float32, copy=False), target


def _split_bytes(fitted: FittedFeatures, name: str) -> bytes:
    return parquet_bytes(split_table(fitted, name))


def load_manifest(deps: Deps, ref: FeatureSetRef) -> FeatureSetManifest:
    return FeatureSetManifest.model_validate(deps.store.get_json(_file(deps, ref.model, ref.id, layout.MANIFEST)))


def load_split(deps: Deps, ref: FeatureSetRef, name: SplitName) -> tuple[np.ndarray, np.ndarray]:
    """The transformed float32 feature matrix and the target of one split."""
    return split_arrays(read_parquet(deps.store, _file(deps, ref.model, ref.id, layout.split_file(name))))


def load_preprocessor(deps: Deps, ref: FeatureSetRef) -> object:
    return load_model(deps.store.get_bytes(_file(deps, ref.model, ref.id, layout.PREPROCESSOR)))


def split_rows(deps: Deps, ref: FeatureSetRef, name: SplitName) -> np.ndarray:
    """Row numbers (in the curated table) of one split."""
    table = read_parquet(deps.store, _file(deps, ref.model, ref.id, layout.SPLIT))
    mask = np.asarray(table.column("split").to_numpy(zero_copy_only=False) == name)
    return np.compress(mask, np.asarray(table.column("row").to_numpy()))


def holdout_rows(deps: Deps, ref: FeatureSetRef) -> pa.Table:
    """The curated rows of the feature set's test split, in split order."""
    return curated_rows(deps, ref, "test")


def curated_rows(deps: Deps, ref: FeatureSetRef, name: SplitName, limit: int | None = None) -> pa.Table:
    """The curated rows of one split, in split order (its first ``limit``)."""
    curated = read_parquet(deps.store, S3Object.parse(ref.curated_uri))
    return curated.take(pa.array(split_rows(deps, ref, name)[:limit]))
