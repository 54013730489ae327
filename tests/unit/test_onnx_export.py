"""ONNX export and skops artifacts: serving predictions equal training predictions, and unsafe artifacts are refused."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import pandas as pd
import pytest
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline

from slipway.domain.artifacts_codec import (
    TARGET_OPSET,
    Task,
    checked_onnx,
    dump_model,
    load_model,
    onnx_predict,
    parity,
    to_onnx,
)
from slipway.domain.features import (
    FittedFeatures,
    fit_features,
    model_input_columns,
    model_input_frame,
    model_input_from_records,
)
from slipway.domain.onnx_converters import register_onnx_converters
from slipway.domain.training import Candidate, assemble, fit_estimator
from slipway.domain.transforms import Clip, DateParts, Log1p, OneHotTop, Ratio, Standardize
from slipway.errors import ArtifactIntegrityError
from slipway.spec.features import SplitSpec
from tests.unit.test_features import CHURN_CONTRACT, FEATURES, churn_table

PARITY_LIMIT = 1e-5


@pytest.fixture(scope="module")
def fitted() -> FittedFeatures:
    return fit_features(churn_table(400), CHURN_CONTRACT, FEATURES, SplitSpec(seed=5))


@pytest.fixture(scope="module")
def scoring_frame(fitted: FittedFeatures) -> pd.DataFrame:
    """Fresh rows as serving sees them: unseen plan and region values, and missing session minutes."""
    table = churn_table(200, seed=9)
    frame = model_input_frame(table, fitted.inputs)
    frame.loc[::7, "plan"] = "enterprise"
    frame.loc[::5, "region"] = "arctic"
    frame.loc[::3, "avg_session_minutes"] = np.nan
    return frame


def _pipeline(fitted: FittedFeatures, estimator: Any, y: np.ndarray | None = None) -> Pipeline:
    estimator.fit(fitted.transformed["train"], fitted.target["train"] if y is None else y)
    return Pipeline([("features", fitted.preprocessor_), ("model", estimator)])


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"x": x})[0])


RNG = np.random.default_rng(0)
NUMBERS = np.concatenate([RNG.normal(0, 50, (300, 2)), [[0.0, 0.0], [-3.0, 0.0], [1e6, 3.0]]]).astype(np.float32)


@pytest.mark.parametrize(
    "transformer",
    [Standardize(), Log1p(), Clip(min=-10, max=25.5), Clip(min=0), Ratio(name="r")],
    ids=lambda t: repr(t),
)
def test_numeric_transform_converts_to_onnx(transformer: Any) -> None:
    # GIVEN a fitted numeric transform WHEN exported alone and run in onnxruntime
    register_onnx_converters()
    register_onnx_converters()  # idempotent
    fitted = transformer.fit(NUMBERS)
    model = convert_sklearn(fitted, initial_types=[("x", FloatTensorType([None, 2]))], target_opset=TARGET_OPSET)
    # THEN ONNX equals scikit-learn within 1e-6
    np.testing.assert_allclose(_run(model, NUMBERS), fitted.transform(NUMBERS), rtol=1e-6, atol=1e-6)


def test_date_parts_onnx_is_exact() -> None:
    # GIVEN days since 1970 from year ~1560 to ~2380, two columns
    register_onnx_converters()
    days = np.random.default_rng(1).integers(-150_000, 150_000, (2000, 2)).astype(np.int64)
    parts = DateParts(parts=["dayofweek", "year", "day", "month"]).fit(days)
    # WHEN exported and run
    model = convert_sklearn(parts, initial_types=[("x", Int64TensorType([None, 2]))], target_opset=TARGET_OPSET)
    # THEN every part is exactly the scikit-learn value
    np.testing.assert_array_equal(_run(model, days), parts.transform(days))


def test_one_hot_top_onnx_handles_rare_and_unseen_values() -> None:
    # GIVEN a category encoder with an infrequent column
    register_onnx_converters()
    train = np.array([["a"]] * 5 + [["b"]] * 3 + [["c"], [""]], dtype=object)
    encoder = OneHotTop(max_categories=3).fit(train)
    rows = np.array([["a"], ["b"], ["c"], [""], ["never-seen"]], dtype=object)
    # WHEN exported and run THEN rare and unseen values land in "infrequent" as in scikit-learn
    model = convert_sklearn(encoder, initial_types=[("x", StringTensorType([None, 1]))], target_opset=TARGET_OPSET)
    np.testing.assert_array_equal(_run(model, rows), encoder.transform(rows))


MODELS = {
    "logistic_regression": lambda: LogisticRegression(max_iter=2000),
    "random_forest": lambda: RandomForestClassifier(n_estimators=15, max_depth=8, random_state=0),
    "gradient_boosting": lambda: GradientBoostingClassifier(n_estimators=15, max_depth=3, random_state=0),
}


@pytest.mark.parametrize("algorithm", sorted(MODELS))
def test_classifier_onnx_matches_sklearn(fitted: FittedFeatures, scoring_frame: pd.DataFrame, algorithm: str) -> None:
    # GIVEN a classifier trained on the churn features (every transform kind)
    pipeline = _pipeline(fitted, MODELS[algorithm]())
    # WHEN exported to ONNX and scored on rows with unseen categories and missing values
    onnx_bytes = to_onnx(pipeline, fitted.inputs)
    # THEN the probability of each class agrees with scikit-learn to 1e-5, one column per class
    assert parity(pipeline, onnx_bytes, scoring_frame, fitted.inputs, "classification") <= PARITY_LIMIT
    probabilities = onnx_predict(onnx_bytes, model_input_columns(scoring_frame, fitted.inputs))
    assert probabilities.shape == (200, 2) and 0 <= probabilities.min() < probabilities.max() <= 1
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_regressor_onnx_matches_sklearn(fitted: FittedFeatures, scoring_frame: pd.DataFrame) -> None:
    # GIVEN a Ridge regression of monthly charges (raw year feature included) WHEN exported
    table = churn_table(400)
    y = table.column("monthly_charges").to_numpy()[fitted.split["train"]]
    pipeline = _pipeline(fitted, Ridge(alpha=1.0), y)
    onnx_bytes = to_onnx(pipeline, fitted.inputs)
    # THEN predicted values agree to 1e-5 and look like charges
    assert parity(pipeline, onnx_bytes, scoring_frame, fitted.inputs, "regression") <= PARITY_LIMIT
    assert 10 < onnx_predict(onnx_bytes, model_input_columns(scoring_frame, fitted.inputs)).mean() < 120


@pytest.mark.parametrize(
    ("algorithm", "task"), [("logistic_regression", "classification"), ("linear_regression", "regression")]
)
def test_linear_candidates_export_their_standardisation_with_them(
    fitted: FittedFeatures, scoring_frame: pd.DataFrame, algorithm: str, task: Task
) -> None:
    # GIVEN a linear candidate as the train step fits it (every column standardised, float64 into the solver)
    y = fitted.target["train"]
    if task == "regression":
        y = churn_table(400).column("monthly_charges").to_numpy()[fitted.split["train"]]
    estimator, _ = fit_estimator(fitted.transformed["train"], y, task, Candidate(0, algorithm, {}), 5)
    pipeline = assemble(fitted.preprocessor_, estimator)
    # WHEN exported to ONNX THEN the served graph standardises too and agrees with scikit-learn to 1e-5
    onnx_bytes = to_onnx(pipeline, fitted.inputs)
    assert parity(pipeline, onnx_bytes, scoring_frame, fitted.inputs, task) <= PARITY_LIMIT
    assert list(pipeline.named_steps) == ["features", "standardize", "model"]


def test_onnx_has_one_typed_input_per_column_and_plain_outputs(fitted: FittedFeatures) -> None:
    # GIVEN an exported classifier WHEN its graph is read
    model = onnx.load_from_string(to_onnx(_pipeline(fitted, LogisticRegression(max_iter=2000)), fitted.inputs))
    element = {1: "float", 7: "int64", 8: "string"}
    inputs = {i.name: element[i.type.tensor_type.elem_type] for i in model.graph.input}
    # THEN each feature column is an input of its own type, and outputs are tensors, not a ZipMap (with the model's
    # input matrix, `features`, last: what explanations read)
    assert inputs == {
        i.name: {"numeric": "float", "categorical": "string", "timestamp": "int64"}[i.kind] for i in fitted.inputs
    }
    assert [o.name for o in model.graph.output] == ["label", "probabilities", "features"]
    assert all(o.type.HasField("tensor_type") for o in model.graph.output)


def test_onnx_scores_json_records_like_the_frame(fitted: FittedFeatures) -> None:
    # GIVEN the same customers as a table and as JSON-like records (with an unseen plan)
    table = churn_table(30, seed=4)
    records = [{**row, "signup_date": row["signup_date"].isoformat()} for row in table.to_pylist()]
    records[0]["plan"] = "enterprise"
    frame = model_input_frame(table, fitted.inputs)
    frame.loc[0, "plan"] = "enterprise"
    onnx_bytes = to_onnx(_pipeline(fitted, LogisticRegression(max_iter=2000)), fitted.inputs)
    # WHEN both are scored by ONNX THEN the probabilities are identical
    from_records = onnx_predict(onnx_bytes, model_input_from_records(records, fitted.inputs))
    np.testing.assert_array_equal(from_records, onnx_predict(onnx_bytes, model_input_columns(frame, fitted.inputs)))


def test_skops_round_trip_predicts_the_same(fitted: FittedFeatures, scoring_frame: pd.DataFrame) -> None:
    # GIVEN a fitted pipeline with slipway transforms WHEN dumped and loaded back
    pipeline = _pipeline(fitted, GradientBoostingClassifier(n_estimators=5, random_state=0))
    data = dump_model(pipeline)
    loaded = load_model(data)
    # THEN it predicts exactly the same probabilities
    np.testing.assert_array_equal(loaded.predict_proba(scoring_frame), pipeline.predict_proba(scoring_frame))


class Shady(TransformerMixin, BaseEstimator):
    """A transformer from outside the allow-list (it could run anything when loaded)."""

    def fit(self, X: Any, y: Any = None) -> Shady:
        self.seen_ = True
        return self

    def transform(self, X: Any) -> Any:
        return X


def test_load_model_refuses_types_outside_the_allow_list() -> None:
    # GIVEN an artifact holding a class from outside sklearn/numpy/slipway.domain.transforms
    data = dump_model(Pipeline([("shady", Shady()), ("model", LogisticRegression())]))
    # WHEN loaded THEN it is refused, naming the type
    with pytest.raises(ArtifactIntegrityError, match=r"test_onnx_export\.Shady") as refused:
        load_model(data)
    assert refused.value.details["types"] == [f"{Shady.__module__}.Shady"]
    # AND non-skops bytes are refused too (tampered bytes never reach it: artifact_io.verified_bytes checks
    # the recorded SHA-256 first)
    with pytest.raises(ArtifactIntegrityError, match="not a readable skops file"):
        load_model(b"not a zip")


def test_checked_onnx_keeps_a_matching_export(fitted: FittedFeatures, scoring_frame: pd.DataFrame) -> None:
    pipeline = _pipeline(fitted, LogisticRegression(max_iter=1000))
    onnx_bytes, report = checked_onnx(pipeline, fitted.inputs, scoring_frame, "classification")
    assert onnx_bytes is not None
    assert report["status"] == "ok" and report["max_diff"] <= 1e-5 and report["measure"] == "absolute"


def test_checked_onnx_falls_back_to_skops_only_when_conversion_fails(
    fitted: FittedFeatures, scoring_frame: pd.DataFrame
) -> None:
    # GIVEN an estimator skl2onnx 1.20 has no converter for (DummyClassifier)
    pipeline = _pipeline(fitted, DummyClassifier())
    # WHEN it is exported THEN there are no ONNX bytes and the report says why
    onnx_bytes, report = checked_onnx(pipeline, fitted.inputs, scoring_frame, "classification")
    assert onnx_bytes is None
    assert report["status"] == "failed" and report["error"]
    # AND the failure is the conversion, not a parity miss (which would carry a measured difference)
    assert "max_diff" not in report and "exceeds" not in report["error"]


def test_checked_onnx_refuses_an_export_outside_the_tolerance(
    fitted: FittedFeatures, scoring_frame: pd.DataFrame
) -> None:
    pipeline = _pipeline(fitted, LogisticRegression(max_iter=1000))
    onnx_bytes, report = checked_onnx(pipeline, fitted.inputs, scoring_frame, "classification", tolerance=0.0)
    assert onnx_bytes is None
    assert report["status"] == "failed" and "exceeds 0.0" in report["error"]
