"""The features step: a deterministic split of a dataset version and the spec's transforms fitted
on its training split, stored as a content-addressed feature set; the candidates to train."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pyarrow as pa

from slipway.adapters.artifacts import S3Ref
from slipway.composition import Container
from slipway.contracts import CandidateRef, FeatureSetRef, FeaturesRequest, FeaturesResult
from slipway.domain.artifacts_codec import dump_model
from slipway.domain.features import FittedFeatures, feature_set_id, fit_features
from slipway.domain.lineage import Edge, dataset_node, feature_set_node
from slipway.domain.training import expand_candidates
from slipway.steps.common import model_spec, read_parquet, write_parquet
from slipway.steps.runs import now_iso, start_run

SPLITS = ("train", "valid", "test")


def features_prefix(model: str, feature_set: str) -> str:
    return f"features/{model}/{feature_set}/"


def build_features(c: Container, request: FeaturesRequest) -> FeaturesResult:
    dataset = request.dataset
    spec = model_spec(c, dataset.model, dataset.spec_version)
    assert spec.features is not None and spec.training is not None  # model_spec() refuses specs without them
    table = read_parquet(c, dataset.curated_uri)
    fitted = fit_features(table, spec.data, spec.features, spec.training.split)
    fs_id = feature_set_id(dataset.dataset_version, spec.features, spec.training.split, fitted.inputs)
    prefix = features_prefix(dataset.model, fs_id)
    uri = f"s3://{c.settings.lake_bucket}/{prefix}"
    rows = {name: len(fitted.split[name]) for name in SPLITS}

    pk, sk = f"FEATURES#{dataset.model}", f"V#{fs_id}"
    if c.table.get(pk, sk) is None:
        _write_feature_set(c, prefix, fitted)
        now = now_iso()
        c.table.put_new(
            {
                "PK": pk,
                "SK": sk,
                "model": dataset.model,
                "id": fs_id,
                "uri": uri,
                "dataset_version": dataset.dataset_version,
                "spec_version": dataset.spec_version,
                "rows": rows,
                "feature_names": list(fitted.feature_names),
                "inputs": [asdict(i) for i in fitted.inputs],
                "created_at": now,
            }
        )
        for item in Edge(
            dataset_node(dataset.model, dataset.dataset_version),
            feature_set_node(dataset.model, fs_id),
            "featurised_into",
        ).items(now):
            c.table.put_new(item)

    start_run(
        c,
        request.run_id,
        model=dataset.model,
        dataset_version=dataset.dataset_version,
        spec_version=dataset.spec_version,
        feature_set=fs_id,
    )
    ref = FeatureSetRef(
        id=fs_id,
        model=dataset.model,
        dataset_version=dataset.dataset_version,
        spec_version=dataset.spec_version,
        uri=uri,
        curated_uri=dataset.curated_uri,
        task=spec.training.task,
        metric=spec.training.metric,
        seed=spec.training.seed,
        rows=rows,
        n_features=len(fitted.feature_names),
    )
    candidates = [
        CandidateRef(index=k.index, algorithm=k.algorithm, params=k.params) for k in expand_candidates(spec.training)
    ]
    return FeaturesResult(feature_set=ref, candidates=candidates)


def _write_feature_set(c: Container, prefix: str, fitted: FittedFeatures) -> None:
    bucket = c.settings.lake_bucket
    c.store.put_bytes(S3Ref(bucket, prefix + "preprocessor.skops"), dump_model(fitted.preprocessor_))
    split_rows = np.concatenate([fitted.split[name] for name in SPLITS])
    split_names = np.concatenate([[name] * len(fitted.split[name]) for name in SPLITS])
    write_parquet(
        c,
        S3Ref(bucket, prefix + "split.parquet"),
        pa.table({"row": pa.array(split_rows, pa.int64()), "split": pa.array(split_names, pa.string())}),
    )
    for name in SPLITS:
        matrix = fitted.transformed[name]
        columns = {n: pa.array(matrix[:, j]) for j, n in enumerate(fitted.feature_names)}
        columns["__target__"] = pa.array(np.asarray(fitted.target[name]))
        write_parquet(c, S3Ref(bucket, prefix + f"{name}.parquet"), pa.table(columns))
    c.store.put_json(
        S3Ref(bucket, prefix + "manifest.json"),
        {
            "feature_names": fitted.feature_names,
            "inputs": [asdict(i) for i in fitted.inputs],
            "rows": {n: len(fitted.split[n]) for n in SPLITS},
        },
    )


def load_split(c: Container, ref: FeatureSetRef, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The transformed feature matrix and target of one split."""
    table = read_parquet(c, ref.uri + f"{name}.parquet")
    target = table.column("__target__").to_numpy()
    matrix = np.column_stack([table.column(i).to_numpy() for i in range(table.num_columns - 1)])
    return matrix.astype(np.float32, copy=False), target


def load_split_rows(c: Container, ref: FeatureSetRef, name: str) -> np.ndarray:
    table = read_parquet(c, ref.uri + "split.parquet")
    mask = np.asarray(table.column("split").to_numpy(zero_copy_only=False) == name)
    return np.asarray(table.column("row").to_numpy())[mask]


def manifest(c: Container, ref: FeatureSetRef) -> dict[str, object]:
    return json.loads(c.store.get_bytes(S3Ref.parse(ref.uri + "manifest.json")))  # type: ignore[no-any-return]
