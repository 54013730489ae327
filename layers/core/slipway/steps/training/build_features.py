"""The features step: a deterministic split of a dataset version and the spec's transforms fitted
on its training split, stored as a content-addressed feature set; the candidates to train."""

from __future__ import annotations

from dataclasses import asdict

from slipway import layout
from slipway.contracts.training import CandidateRef, FeatureSetRef, FeaturesRequest, FeaturesResult
from slipway.domain.features import feature_set_id, fit_features
from slipway.domain.lineage import Edge, dataset_node, feature_set_node
from slipway.domain.training import expand_candidates
from slipway.errors import SpecError
from slipway.objects import S3Object
from slipway.ports import Deps
from slipway.spec import label_problems
from slipway.stores.artifacts import read_parquet
from slipway.stores.features import SPLITS, write_feature_set
from slipway.stores.runs import start_run
from slipway.stores.specs import training_spec


def build_features(deps: Deps, request: FeaturesRequest) -> FeaturesResult:
    dataset = request.dataset
    spec = training_spec(deps, dataset.model, dataset.spec_version)
    assert spec.features is not None and spec.training is not None  # training_spec() refuses specs without them
    table = read_parquet(deps.store, S3Object.parse(dataset.curated_uri))
    fitted = fit_features(table, spec.data, spec.features, spec.training.split, spec.training.task)
    if fitted.labels is not None:  # a spec whose labels come only from the data is checked against them here
        problems = label_problems(spec, fitted.labels)
        if problems:
            raise SpecError(
                f"spec {dataset.model}@{dataset.spec_version[:12]} does not fit the target's labels: "
                + "; ".join(problems),
                {"model": dataset.model, "labels": fitted.labels},
            )
    fs_id = feature_set_id(dataset.dataset_version, spec.features, spec.training.split, fitted.inputs)
    uri = layout.feature_set_uri(deps.settings.lake_bucket, dataset.model, fs_id)
    rows = {name: len(fitted.split[name]) for name in SPLITS}

    key = layout.feature_set_key(dataset.model, fs_id)
    if deps.table.get(*key) is None:
        write_feature_set(deps, dataset.model, fs_id, fitted)
        now = deps.now_iso()
        deps.table.put_new(
            layout.item(
                key,
                model=dataset.model,
                id=fs_id,
                uri=uri,
                dataset_version=dataset.dataset_version,
                spec_version=dataset.spec_version,
                rows=rows,
                feature_names=list(fitted.feature_names),
                inputs=[asdict(i) for i in fitted.inputs],
                created_at=now,
            )
        )
        edge = Edge(
            dataset_node(dataset.model, dataset.dataset_version),
            feature_set_node(dataset.model, fs_id),
            "featurised_into",
        )
        for item in edge.items(now):
            deps.table.put_new(item)

    start_run(
        deps,
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
        labels=fitted.labels,
        positive_label=spec.training.positive_label if fitted.labels is not None else None,
    )
    candidates = [
        CandidateRef(index=k.index, algorithm=k.algorithm, params=k.params) for k in expand_candidates(spec.training)
    ]
    return FeaturesResult(feature_set=ref, candidates=candidates)
