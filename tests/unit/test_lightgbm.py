"""The `lightgbm` algorithm on scikit-learn's bundled tables: it stops early on the validation split, refits the
same trees whatever the thread count, survives the skops allow-list, and exports to ONNX matching LightGBM to
parity's 1e-5 (thresholds written as float32 values, so no row takes the other branch)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

from slipway.domain.artifacts_codec import checked_onnx, dump_model, load_model
from slipway.domain.features import fit_features, model_input_frame
from slipway.domain.onnx_converters import float32_thresholds
from slipway.domain.training import Candidate, assemble, fit_estimator, refit_candidate, refit_estimator
from slipway.spec import load_spec
from tests.conftest import SPECS
from tests.statemachines.test_sklearn_datasets import DATASETS

TABLES = {
    "breast_cancer": (load_breast_cancer, "classification"),
    "wine": (load_wine, "classification"),
    "diabetes": (load_diabetes, "regression"),
}


def _split(name: str) -> tuple[Any, ...]:
    """float32 features (as the feature store holds them), 60/20/20 by a seeded permutation."""
    loader, task = TABLES[name]
    X, y = loader(return_X_y=True)
    X = X.astype(np.float32)
    order = np.random.default_rng(0).permutation(len(y))
    train, valid, test = np.split(order, [int(0.6 * len(y)), int(0.8 * len(y))])
    return task, (X[train], y[train]), (X[valid], y[valid]), (X[test], y[test])


def _predict(model: Any, X: np.ndarray, task: str) -> np.ndarray:
    return np.asarray(model.predict_proba(X) if task == "classification" else model.predict(X), dtype=np.float64)


@pytest.mark.parametrize("model", ["breast-cancer", "iris", "diabetes"])
def test_lightgbm_stops_early_on_the_validation_split_and_exports_exactly(model: str) -> None:
    # GIVEN a public table through its spec's features (specs/MODEL.yaml): two classes, three, a regression
    spec = load_spec((SPECS / f"{model}.yaml").read_text())
    assert spec.features is not None and spec.training is not None
    task = spec.training.task
    table = pa.Table.from_pandas(DATASETS[model](), preserve_index=False)
    fitted = fit_features(table, spec.data, spec.features, spec.training.split, task)

    # WHEN a lightgbm candidate is fitted on the training split, watching the validation split
    valid = (fitted.transformed["valid"], fitted.target["valid"])
    candidate = Candidate(0, "lightgbm", {"num_leaves": 15})
    estimator, _ = fit_estimator(fitted.transformed["train"], fitted.target["train"], task, candidate, 3, valid)

    # THEN it stopped before its 1000 rounds, at the round that did best on the validation rows
    assert 0 < estimator.best_iteration_ < 1000

    # AND the served pipeline's ONNX export matches it on the test rows within parity's 1e-5
    pipeline = assemble(fitted.preprocessor_, estimator)
    holdout = model_input_frame(table.take(fitted.split["test"]), fitted.inputs)
    onnx_bytes, report = checked_onnx(pipeline, fitted.inputs, holdout, task)
    assert onnx_bytes is not None and report["status"] == "ok" and report["max_diff"] <= 1e-5, report

    # AND its skops artifact loads through the allow-list and predicts the same
    loaded = load_model(dump_model(pipeline))
    np.testing.assert_array_equal(_predict(loaded, holdout, task), _predict(pipeline, holdout, task))


def test_lightgbm_refits_the_same_trees_with_one_thread_or_two() -> None:
    # GIVEN the breast cancer table WHEN a candidate is fitted twice, on 1 and on 2 threads
    task, (X, y), valid, _ = _split("breast_cancer")
    fits = [
        fit_estimator(X, y, task, Candidate(0, "lightgbm", {"n_jobs": n}), seed=5, validation=valid)[0] for n in (1, 2)
    ]
    # THEN the trees are the same (deterministic, row-wise histograms), so a reproduction elsewhere matches
    first, second = (f.booster_.model_to_string().split("parameters:")[0] for f in fits)
    assert first == second


def test_without_validation_rows_every_round_runs() -> None:
    task, (X, y), (X_valid, y_valid), _ = _split("wine")
    model, _ = fit_estimator(X, y, task, Candidate(0, "lightgbm", {"n_estimators": 40}), 1, (X_valid[:0], y_valid[:0]))
    assert model.booster_.current_iteration() == 40


def test_float32_thresholds_lower_each_split_to_a_float32_value_below_it() -> None:
    # GIVEN a model fitted on float32 features, whose double thresholds lie between two float32 values
    task, (X, y), _, (X_test, _) = _split("breast_cancer")
    model, _ = fit_estimator(X, y, task, Candidate(0, "lightgbm", {"n_estimators": 60}), seed=1)
    text = model.booster_.model_to_string()

    # WHEN its thresholds are lowered to float32 values
    lowered = float32_thresholds(text)

    def thresholds(model_text: str) -> np.ndarray:
        lines = [line for line in model_text.split("\n") if line.startswith("threshold=")]
        return np.array([float(v) for line in lines for v in line.split("=", 1)[1].split()])

    before, after = thresholds(text), thresholds(lowered)
    # THEN each is a float32 value, not above the original, and the next float32 up is above the original
    assert len(before) == len(after) > 100
    assert np.array_equal(after.astype(np.float32).astype(np.float64), after)
    assert np.all(after <= before)
    assert np.all(np.nextafter(after.astype(np.float32), np.float32(np.inf)).astype(np.float64) > before)
    # AND LightGBM reads it back and predicts exactly as the original on float32 inputs
    import lightgbm

    again = lightgbm.Booster(model_str=lowered)
    np.testing.assert_array_equal(again.predict(X_test), model.booster_.predict(X_test))


def test_refit_keeps_the_rounds_early_stopping_chose_and_learns_from_train_and_validation() -> None:
    # GIVEN a lightgbm winner fitted on the training rows, stopped early on the validation rows
    task, train, valid, _ = _split("wine")
    candidate = Candidate(2, "lightgbm", {"num_leaves": 7})
    fitted, _ = fit_estimator(*train, task, candidate, seed=4, validation=valid)

    # WHEN it is fitted again for training.refit
    again = refit_candidate(candidate, fitted)
    refitted, _ = refit_estimator(train, valid, task, again, seed=4)

    # THEN it runs exactly the rounds the first fit stopped at, on the rows of both splits
    assert again.params == {"num_leaves": 7, "n_estimators": fitted.best_iteration_}
    assert refitted.booster_.current_iteration() == fitted.best_iteration_
    assert refitted.n_features_in_ == train[0].shape[1]
    X_both, y_both = np.concatenate([train[0], valid[0]]), np.concatenate([train[1], valid[1]])
    direct = fit_estimator(X_both, y_both, task, Candidate(2, "lightgbm", again.params), seed=4)[0]
    assert refitted.booster_.model_to_string() == direct.booster_.model_to_string()
    # AND a model that does not stop early is refitted as it was specified
    assert refit_candidate(Candidate(0, "logistic_regression", {"C": 1.0}), object()).params == {"C": 1.0}
