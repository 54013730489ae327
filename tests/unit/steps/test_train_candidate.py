"""train_candidate: each Map iteration records a candidate item with its validation metrics and stores
its model content-addressed; a retried iteration returns the recorded candidate (no second fit), and a
fit redone after a lost record never overwrites an artifact a result points to."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from slipway import layout
from slipway.domain.digest import sha256_hex
from slipway.objects import S3Object
from slipway.steps.training.train_candidate import train_candidate
from slipway.stores.artifacts import load_verified_model, verified_bytes
from slipway.stores.runs import candidates_of
from slipway.stores.specs import push_spec
from tests.fakes import FakeMetadataTable, fake_deps, fork
from tests.unit.steps.support import (
    SPECS,
    Pipeline,
    churn_csv,
    item_of,
    run_pipeline,
    spec_text,
    store_keys,
    stored_versions,
    table_keys,
    train_requests,
)


def test_each_candidate_is_recorded_with_its_metrics_and_a_verifiable_artifact(evaluated: Pipeline) -> None:
    # GIVEN run-1's two candidates, trained one per Map iteration
    deps, run = evaluated.deps, evaluated.run

    # WHEN a user lists the run's candidates
    items = candidates_of(deps, run.run_id)

    # THEN there is one item per candidate, each with what the train step returned
    assert [i["index"] for i in items] == [0, 1]
    for result in run.trained:
        item = item_of(deps, layout.candidate_key(run.run_id, result.index))
        assert (item["algorithm"], item["params"]) == (result.algorithm, result.params)
        assert item["validation_metrics"] == pytest.approx(result.metrics)
        assert 0.5 < result.metrics["roc_auc"] <= 1.0  # better than chance on the validation split
        assert (item["dataset_version"], item["feature_set"]) == (
            run.dataset.dataset_version,
            run.features.feature_set.id,
        )
        # AND the artifact sits under its content address, and its bytes hash to the recorded SHA-256
        expected = layout.candidate_artifact(
            deps.settings.artifacts_bucket, run.run_id, result.index, result.model_sha256
        )
        assert item["model_uri"] == result.model_uri == expected.uri
        assert item["model_sha256"] == result.model_sha256
        assert sha256_hex(deps.store.get_bytes(expected)) == result.model_sha256
        # AND it loads as a model that scores probabilities
        model = load_verified_model(deps.store, {"uri": result.model_uri, "sha256": result.model_sha256})
        assert hasattr(model, "predict_proba")


def test_a_retried_iteration_returns_the_recorded_candidate_and_writes_nothing(evaluated: Pipeline) -> None:
    # GIVEN candidate 0 of run-1, trained and recorded (its response lost: the Map iteration is retried)
    deps = fork(evaluated.deps)
    run = evaluated.run
    before = stored_versions(deps), table_keys(deps)

    # WHEN the same request comes again
    retried = train_candidate(deps, train_requests(run.run_id, run.features)[0])

    # THEN it is the recorded result, and no object, version or item was added (no second fit)
    assert retried == run.trained[0]
    assert (stored_versions(deps), table_keys(deps)) == before


def test_a_fit_lost_before_its_record_is_redone_and_the_first_artifact_stays_verifiable(evaluated: Pipeline) -> None:
    # GIVEN candidate 0's artifact written but its record lost (a crash between the two writes)
    deps = fork(evaluated.deps)
    run = evaluated.run
    first = run.trained[0]
    table = deps.table
    assert isinstance(table, FakeMetadataTable)
    del table.items[layout.candidate_key(run.run_id, 0)]

    # WHEN the Map iteration is retried
    retried = train_candidate(deps, train_requests(run.run_id, run.features)[0])

    # THEN the retry's artifact has its own content address next to the first one
    prefix = layout.candidate_artifact(deps.settings.artifacts_bucket, run.run_id, 0, "x").key.rsplit("/", 1)[0]
    assert retried.model_sha256 != first.model_sha256  # skops bytes of two fits differ
    refitted = run.evaluated.best.model_uri if run.evaluated.refitted and run.evaluated.best.index == 0 else None
    expected = [S3Object.parse(uri).key for uri in (first.model_uri, retried.model_uri, refitted) if uri]
    assert store_keys(deps, deps.settings.artifacts_bucket, prefix + "/") == sorted(expected)
    # AND both artifacts still hash to what their results recorded
    for result in (first, retried):
        assert sha256_hex(verified_bytes(deps.store, result.model_uri, result.model_sha256)) == result.model_sha256
    # AND the candidate item points at the retry, with the same validation metrics
    item = item_of(deps, layout.candidate_key(run.run_id, 0))
    assert (item["model_uri"], item["model_sha256"]) == (retried.model_uri, retried.model_sha256)
    assert retried.metrics == pytest.approx(first.metrics)


def test_every_candidate_of_the_demo_beats_chance_on_its_csv_upload() -> None:
    # GIVEN specs/churn.yaml, as `slipway demo` pushes it, and the demo's first upload: 12,000 rows of CSV
    deps = fake_deps()
    push_spec(deps, (SPECS / "churn.yaml").read_text())

    # WHEN every candidate is trained (logistic regressions on date parts and one-hot columns, forest, boosting)
    run = run_pipeline(deps, "run-1", "churn/2026-11-25.csv", churn_csv(12_000, seed=7), until="train")

    # THEN every candidate ranks customers better than chance on the validation split, linear ones included
    scores = {f"{t.index} {t.algorithm}": t.metrics["roc_auc"] for t in run.trained}
    assert len(scores) == 4 and all(auc is not None and auc > 0.5 for auc in scores.values()), scores
    # AND the logistic regressions rank about as well as the trees, not merely above chance
    best = max(a for a in scores.values() if a is not None)
    linear = [t.metrics["roc_auc"] for t in run.trained if t.algorithm == "logistic_regression"]
    assert all(auc is not None and auc > best - 0.03 for auc in linear), scores
    # AND none is flagged (converged, no numerical warning, above chance)
    assert [t.flags for t in run.trained] == [[], [], [], []]


def test_a_candidate_stopped_before_converging_is_flagged_with_its_warning_on_its_record() -> None:
    # GIVEN a churn spec whose first logistic regression may take only 3 solver iterations
    deps = fake_deps()
    push_spec(deps, spec_text(replace={"grid: {C: [0.1, 1.0]}": "grid: {C: [1.0], max_iter: [3, 1000]}"}))

    # WHEN both candidates train
    run = run_pipeline(deps, "run-1", "churn/customers.csv", churn_csv(), until="train")

    # THEN the first is flagged not converged, on its result and its record, with scikit-learn's warning text
    assert [t.flags for t in run.trained] == [["not_converged"], []]
    stopped, converged = (item_of(deps, layout.candidate_key("run-1", i)) for i in (0, 1))
    assert stopped["flags"] == ["not_converged"]
    assert len(stopped["warnings"]) == 1
    assert stopped["warnings"][0].startswith("ConvergenceWarning: lbfgs failed to converge after 3 iteration(s)")
    assert (converged["flags"], converged["warnings"]) == ([], [])


def test_a_candidate_that_scores_below_chance_is_flagged() -> None:
    # GIVEN customers whose behaviour flips over time: older rows churn when x is high, newer ones when it is low
    rng = np.random.default_rng(3)
    n = 400
    x = rng.normal(size=n)
    flipped = np.arange(n) >= int(n * 0.6)  # the time split's valid and test rows
    label = np.where(flipped, x < 0, x > 0).astype(int)
    frame = pd.DataFrame(
        {"signed_up": pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y-%m-%d"), "x": x, "churned": label}
    )
    deps = fake_deps()
    push_spec(deps, FLIPPING_SPEC)

    # WHEN a logistic regression trains on the older rows and is scored on the newer
    run = run_pipeline(deps, "run-1", "flipping/rows.csv", frame.to_csv(index=False).encode(), until="train")

    # THEN it ranks worse than chance, and its record says so
    (trained,) = run.trained
    assert trained.metrics["roc_auc"] is not None and trained.metrics["roc_auc"] < 0.5
    assert trained.flags == ["below_chance"]
    assert item_of(deps, layout.candidate_key("run-1", 0))["flags"] == ["below_chance"]


FLIPPING_SPEC = """
name: flipping
data:
  target: churned
  min_rows: 100
  columns:
    - {name: signed_up, type: timestamp}
    - {name: x, type: float}
    - {name: churned, type: int, allowed: [0, 1]}
features:
  exclude: [signed_up]
training:
  task: classification
  metric: roc_auc
  split: {method: time, column: signed_up, valid: 0.2, test: 0.2}
  candidates:
    - algorithm: logistic_regression
"""
