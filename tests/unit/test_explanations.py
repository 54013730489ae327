"""Per-row explanations of every algorithm slipway trains, on scikit-learn's bundled tables: the base value plus the
contributions gives back the ONNX model's own output (1,000 rows of the handwritten digits, binary and 10 classes;
all 442 rows of the diabetes regression), tree ensembles agree with the `shap` package's TreeExplainer, derived
columns add up to the raw feature they came from, and the stored explainer reads back the same."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
import shap
from sklearn import datasets
from threadpoolctl import threadpool_limits
from xgboost import XGBModel

from slipway.domain.artifacts_codec import to_onnx
from slipway.domain.explainer_export import checked_explainer, column_owners, onnx_outputs
from slipway.domain.explanations import Explainer
from slipway.domain.features import model_input_columns
from slipway.domain.model_input import FeatureInput
from slipway.domain.preprocessor import build_preprocessor
from slipway.domain.training import Candidate, assemble, fit_estimator
from slipway.spec.features import FeaturesSpec


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """One OpenMP/BLAS thread unless a test asks for more: on a shared two-core machine, OpenMP threads spinning
    against other processes' made a 107-row HistGradientBoosting fit ~35 times slower (28 s against 0.8 s)."""
    with threadpool_limits(limits=1):
        yield


TREES = {
    "random_forest": {"n_estimators": 30, "max_depth": 6},
    "gradient_boosting": {"n_estimators": 30, "max_depth": 3},
    "lightgbm": {"n_estimators": 60, "num_leaves": 15},
    "xgboost": {"n_estimators": 60, "max_depth": 4},
    "hist_gradient_boosting": {"max_iter": 60, "max_leaf_nodes": 15},
}
LINEAR = {"classification": "logistic_regression", "regression": "linear_regression"}


@dataclasses.dataclass
class Fitted:
    pipeline: Any
    onnx: bytes
    frame: pd.DataFrame
    inputs: list[FeatureInput]


def _table(name: str) -> tuple[pd.DataFrame, np.ndarray, str]:
    """(raw columns, target, task) of a bundled table; a categorical column made from one of its own numbers."""
    if name == "diabetes":
        data = datasets.load_diabetes()
        x, y, task = data.data, data.target, "regression"
    else:
        data = datasets.load_digits()
        x, y, task = data.data[:1000], data.target[:1000], "classification"
        if name == "digits-8":  # binary: is it an 8?
            y = (y == 8).astype(int)
    frame = pd.DataFrame(x.astype(np.float32), columns=[f"x{i}" for i in range(x.shape[1])])
    frame["band"] = pd.Series(np.where(x[:, 2] > np.median(x[:, 2]), "high", "low"), dtype=object)
    return frame, y, task


def _fit(table: str, algorithm: str, params: dict[str, Any]) -> Fitted:
    frame, y, task = _table(table)
    inputs = [FeatureInput(c, "categorical" if c == "band" else "numeric") for c in frame.columns]
    preprocessor = build_preprocessor(inputs, FeaturesSpec()).fit(frame)
    matrix = preprocessor.transform(frame).astype(np.float32)
    estimator, _ = fit_estimator(matrix, y, task, Candidate(0, algorithm, params), 7, (matrix[:200], y[:200]))
    pipeline = assemble(preprocessor, estimator)
    return Fitted(pipeline, to_onnx(pipeline, inputs), frame, inputs)


CASES = [
    (table, algorithm, params)
    for table in ("digits-8", "digits", "diabetes")
    for algorithm, params in [*TREES.items(), (LINEAR[_table(table)[2]], {})]
]


# shap's TreeExplainer refuses a multi-class GradientBoostingClassifier: that one is checked against ONNX only
SHAP_CASES = [c for c in CASES if c[1] in TREES and c[:2] != ("digits", "gradient_boosting")]
LINEAR_CASES = [c for c in CASES if c[1] not in TREES]


@functools.cache
def _fitted(table: str, algorithm: str) -> Fitted:
    params = TREES.get(algorithm, {})
    return _fit(table, algorithm, params)


def _ids(cases: list[tuple[str, str, dict[str, Any]]]) -> list[str]:
    return [f"{t}-{a}" for t, a, _ in cases]


@pytest.fixture(params=CASES, ids=_ids(CASES))
def fitted(request: pytest.FixtureRequest) -> Fitted:
    return _fitted(request.param[0], request.param[1])


@pytest.fixture(params=SHAP_CASES, ids=_ids(SHAP_CASES))
def ensemble(request: pytest.FixtureRequest) -> Fitted:
    return _fitted(request.param[0], request.param[1])


@pytest.fixture(params=LINEAR_CASES, ids=_ids(LINEAR_CASES))
def linear(request: pytest.FixtureRequest) -> Fitted:
    return _fitted(request.param[0], request.param[1])


def _onnx(fitted: Fitted) -> tuple[np.ndarray, np.ndarray]:
    session = ort.InferenceSession(fitted.onnx, providers=["CPUExecutionProvider"])
    return onnx_outputs(session, model_input_columns(fitted.frame, fitted.inputs))


def test_base_plus_contributions_is_the_onnx_models_output(fitted: Fitted) -> None:
    # GIVEN a fitted pipeline, its ONNX model and the explainer registration builds for it
    blob, report, _ = checked_explainer(fitted.pipeline, fitted.onnx, fitted.frame, fitted.inputs)
    assert blob is not None, report
    explainer = Explainer.from_bytes(blob)
    features, output = _onnx(fitted)

    # WHEN every row is explained for every output of the model
    raw = np.column_stack(
        [explainer.explain(features, np.full(len(features), k)).raw() for k in range(explainer.outputs)]
    )

    # THEN the outputs rebuilt from the explanations are what ONNX serves, to 1e-5, on every row
    if output.ndim == 1:
        rebuilt = raw[:, 0]
        assert explainer.units == "value"
    elif explainer.units == "probability":
        rebuilt = raw
    elif explainer.units == "log-odds":
        positive = 1 / (1 + np.exp(-raw[:, 0]))
        rebuilt = np.column_stack([1 - positive, positive])
    else:
        assert explainer.units == "margin"
        exp = np.exp(raw - raw.max(axis=1, keepdims=True))
        rebuilt = exp / exp.sum(axis=1, keepdims=True)
    scale = np.maximum(1.0, np.abs(output)) if output.ndim == 1 else 1.0
    assert np.max(np.abs(rebuilt - output) / scale) <= 1e-5
    assert len(features) == (442 if output.ndim == 1 else 1000)
    assert report["status"] == "ok" and report["max_diff"] <= 1e-5


def test_linear_contributions_are_coefficients_times_standardised_inputs(linear: Fitted) -> None:
    # GIVEN a linear model (behind its standardisation) and its explainer, each model column its own group
    blob, _, _ = checked_explainer(linear.pipeline, linear.onnx, linear.frame, linear.inputs)
    assert blob is not None
    stored = Explainer.from_bytes(blob)
    features, _ = _onnx(linear)
    columns = features.shape[1]
    per_column = dataclasses.replace(stored, owner=np.arange(columns), groups=tuple(map(str, range(columns))))
    model = linear.pipeline.steps[-1][1]
    coef = np.atleast_2d(model.coef_)

    # WHEN output 0 of 200 rows is explained THEN each contribution is w_j z_j (the training mean of z is 0) and the
    # base is the intercept
    explained = per_column.explain(features[:200], np.zeros(200, dtype=np.int64))
    np.testing.assert_allclose(explained.contributions, coef[0] * features[:200], rtol=1e-12, atol=1e-12)
    assert explained.base[0] == pytest.approx(float(np.atleast_1d(model.intercept_)[0]), abs=1e-12)


def test_tree_ensembles_agree_with_shaps_tree_explainer(ensemble: Fitted) -> None:
    fitted = ensemble
    estimator = fitted.pipeline.steps[-1][1]
    # GIVEN the explainer with each model column as its own group (no summing of one-hot levels)
    blob, _, _ = checked_explainer(fitted.pipeline, fitted.onnx, fitted.frame, fitted.inputs)
    assert blob is not None
    stored = Explainer.from_bytes(blob)
    features, _ = _onnx(fitted)
    columns = features.shape[1]
    per_column = dataclasses.replace(stored, owner=np.arange(columns), groups=tuple(map(str, range(columns))))
    reference = shap.TreeExplainer(estimator)
    values = np.asarray(reference.shap_values(features[:300].astype(np.float32), check_additivity=False))
    expected_base = np.atleast_1d(np.asarray(reference.expected_value, dtype=np.float64))

    for k in range(stored.outputs):
        # WHEN output k of 300 rows is explained by both
        mine = per_column.explain(features[:300], np.full(300, k))
        theirs = values[..., k] if values.ndim == 3 else values

        # THEN every contribution and the base value agree to rounding (float32 rounding for XGBoost, whose values
        # shap takes from XGBoost's own TreeSHAP, pred_contribs, computed in float32)
        close = {"rtol": 2e-6, "atol": 2e-6} if isinstance(estimator, XGBModel) else {"atol": 1e-9}
        np.testing.assert_allclose(mine.contributions, theirs, **close)
        np.testing.assert_allclose(mine.base[0], expected_base[min(k, len(expected_base) - 1)], **close)


def test_derived_columns_add_up_to_the_raw_feature_they_came_from() -> None:
    # GIVEN a model whose categorical column is one-hot encoded into two columns
    fitted = _fit("digits-8", "lightgbm", TREES["lightgbm"])
    blob, _, _ = checked_explainer(fitted.pipeline, fitted.onnx, fitted.frame, fitted.inputs)
    assert blob is not None
    explainer = Explainer.from_bytes(blob)
    owners = column_owners(fitted.pipeline.named_steps["features"])
    assert owners.count("band") == 2 and len(owners) == 66

    # WHEN rows are explained per raw feature and per model column
    features, _ = _onnx(fitted)
    grouped = explainer.explain(features[:50], np.zeros(50, dtype=np.int64))
    split = dataclasses.replace(explainer, owner=np.arange(66), groups=tuple(map(str, range(66))))
    per_column = split.explain(features[:50], np.zeros(50, dtype=np.int64)).contributions

    # THEN each raw feature is reported once, and `band`'s contribution is the sum of its two levels'
    assert list(explainer.groups) == [f"x{i}" for i in range(64)] + ["band"]
    band = [n for n, owner in enumerate(owners) if owner == "band"]
    np.testing.assert_allclose(grouped.contributions[:, 64], per_column[:, band].sum(axis=1), atol=1e-12)


def test_the_stored_explainer_reads_back_the_same() -> None:
    fitted = _fit("digits", "random_forest", TREES["random_forest"])
    blob, _, _ = checked_explainer(fitted.pipeline, fitted.onnx, fitted.frame, fitted.inputs)
    assert blob is not None
    once, twice = Explainer.from_bytes(blob), Explainer.from_bytes(Explainer.from_bytes(blob).to_bytes())
    features, _ = _onnx(fitted)
    chosen = np.arange(20) % 10
    np.testing.assert_array_equal(once.explain(features[:20], chosen).contributions,
                                  twice.explain(features[:20], chosen).contributions)  # fmt: skip
    assert (once.units, once.groups, once.outputs) == ("probability", twice.groups, 10)
