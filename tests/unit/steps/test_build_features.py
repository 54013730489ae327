"""build_features: a dataset version is split and featurised once into a content-addressed feature set,
and the spec's candidate grid is expanded for the Map; a spec that cannot train is refused."""

from __future__ import annotations

import pytest

from slipway import layout
from slipway.domain.lineage import dataset_node, feature_set_node
from slipway.errors import SpecError
from slipway.objects import S3Object
from slipway.steps.training.build_features import build_features
from slipway.steps.training.validate_dataset import validate_dataset
from slipway.stores.features import SPLITS, load_manifest
from slipway.stores.runs import get_run
from slipway.stores.specs import push_spec
from tests.fakes import fork
from tests.unit.steps.support import (
    ROWS,
    Pipeline,
    churn_csv,
    data_only_spec,
    features_request,
    item_of,
    store_keys,
    stored_versions,
    table_keys,
    upload,
)


def test_a_feature_set_is_stored_with_splits_that_add_up_to_the_rows(evaluated: Pipeline) -> None:
    # GIVEN a validated churn dataset (600 rows) whose features were built in run-1
    deps, run = evaluated.deps, evaluated.run
    fs = run.features.feature_set

    # WHEN a user reads the feature set back from the store
    manifest = load_manifest(deps, fs)
    item = item_of(deps, layout.feature_set_key("churn", fs.id))

    # THEN the train/valid/test splits partition the dataset's rows, in the manifest, the item and the result
    assert set(manifest.rows) == set(SPLITS)
    assert sum(manifest.rows.values()) == ROWS == run.dataset.rows
    assert manifest.rows == item["rows"] == fs.rows
    assert all(manifest.rows[name] > 0 for name in SPLITS)
    # AND the feature set belongs to the dataset version it was built from, under its layout prefix
    assert (fs.dataset_version, item["dataset_version"]) == (run.dataset.dataset_version,) * 2
    assert fs.uri == item["uri"] == layout.feature_set_uri(deps.settings.lake_bucket, "churn", fs.id)
    assert len(manifest.feature_names) == fs.n_features == len(item["feature_names"])
    # AND the sensitive attribute (excluded by the spec) is not a model input
    inputs = {i.name for i in manifest.inputs}
    assert "gender" not in inputs and {"age", "plan", "signup_date"} <= inputs
    # AND every file of the feature set is in the lake
    files = {layout.PREPROCESSOR, layout.SPLIT, layout.MANIFEST, *(layout.split_file(s) for s in SPLITS)}
    prefix = S3Object.parse(layout.feature_set_uri(deps.settings.lake_bucket, "churn", fs.id)).key
    written = store_keys(deps, deps.settings.lake_bucket, prefix)
    assert {k.rsplit("/", 1)[-1] for k in written} == files
    # AND lineage says the dataset version was featurised into it, and the run records it
    out = deps.table.query(*layout.edges(dataset_node("churn", fs.dataset_version), "out"))
    assert ("featurised_into", feature_set_node("churn", fs.id)) in {(e["kind"], e["other"]) for e in out}
    run_item = get_run(deps, run.run_id)
    assert run_item is not None and run_item["feature_set"] == fs.id


def test_candidates_are_expanded_from_the_spec_grid(evaluated: Pipeline) -> None:
    # GIVEN the spec's candidates: logistic_regression with grid {C: [0.1, 1.0]}
    # WHEN features were built
    candidates = evaluated.run.features.candidates

    # THEN there is one candidate per grid point, numbered in order
    assert [(c.index, c.algorithm, c.params) for c in candidates] == [
        (0, "logistic_regression", {"C": 0.1}),
        (1, "logistic_regression", {"C": 1.0}),
    ]
    # AND the feature set carries the spec's task, metric and seed for the train step
    fs = evaluated.run.features.feature_set
    assert (fs.task, fs.metric, fs.seed) == ("classification", "roc_auc", 42)


def test_building_features_again_writes_nothing_new(evaluated: Pipeline) -> None:
    # GIVEN a dataset version whose feature set exists
    deps = fork(evaluated.deps)
    first = evaluated.run.features
    objects_before = stored_versions(deps)
    items_before = table_keys(deps)

    # WHEN another run builds features for the same dataset version
    again = build_features(deps, features_request("run-again", evaluated.run.dataset))

    # THEN it gets the same feature set and candidates
    assert again.feature_set.id == first.feature_set.id
    assert again.candidates == first.candidates
    # AND no object or object version was written, and the only new item is the new run's
    assert stored_versions(deps) == objects_before
    assert table_keys(deps) - items_before == {layout.run_key("run-again")}
    assert len(deps.table.query(*layout.feature_sets("churn"))) == 1


def test_a_spec_without_features_and_training_cannot_build_features(evaluated: Pipeline) -> None:
    # GIVEN a model whose spec has only a data contract, and a validated dataset of it
    deps = fork(evaluated.deps)
    push_spec(deps, data_only_spec("churn-data"))
    dataset = validate_dataset(deps, upload(deps, "churn-data/customers.csv", churn_csv()), "run-data")

    lake_before = store_keys(deps, deps.settings.lake_bucket)

    # WHEN the features step runs on it
    # THEN a SpecError names the missing sections, no feature set exists for that model and nothing was written
    with pytest.raises(SpecError, match="no features/training sections"):
        build_features(deps, features_request("run-data", dataset))
    assert deps.table.query(*layout.feature_sets("churn-data")) == []
    assert store_keys(deps, deps.settings.lake_bucket) == lake_before
