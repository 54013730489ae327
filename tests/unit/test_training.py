"""Training spec and candidate training: grids expand predictably, bad specs are named, fitting is pure and seeded."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import pytest
from lightgbm import LGBMClassifier, LGBMRegressor
from pydantic import ValidationError
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from xgboost import XGBClassifier, XGBRegressor

from slipway.domain.training import Candidate, assemble, expand_candidates, fit_estimator, make_estimator, score
from slipway.spec import load_spec
from slipway.spec.model import dump_spec_yaml, spec_version
from slipway.spec.training import (
    CLASSIFICATION_METRICS,
    HYPERPARAMETERS,
    LIGHTGBM_EXTRA,
    XGBOOST_TREE_PARAMETERS,
    CandidateSpec,
    GatesSpec,
    TrainingSpec,
    metric_direction,
)
from tests.conftest import SPECS

NUMERIC = ["tenure_months", "monthly_charges", "support_calls"]
CATEGORICAL = ["contract"]


def churn_frame(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A churn-like frame (numeric + categorical + the sensitive ``gender``) and its binary target."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "tenure_months": rng.integers(1, 72, n),
            "monthly_charges": rng.normal(70, 20, n).round(2),
            "support_calls": rng.poisson(2, n),
            "contract": rng.choice(["monthly", "annual", "two_year"], n),
            "gender": rng.choice(["female", "male", "nonbinary"], n),
        }
    )
    logit = 1.5 - 0.06 * frame["tenure_months"] + 0.5 * frame["support_calls"] - 1.2 * (frame["contract"] != "monthly")
    target = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int).to_numpy()
    return frame, target


def preprocessor(frame: pd.DataFrame) -> ColumnTransformer:
    """A fitted StandardScaler + OneHotEncoder over the feature columns (``gender`` is not a feature)."""
    transform = ColumnTransformer(
        [("num", StandardScaler(), NUMERIC), ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL)]
    )
    return transform.fit(frame)


def _spec(**overrides: Any) -> TrainingSpec:
    raw: dict[str, Any] = {
        "task": "classification",
        "metric": "roc_auc",
        "candidates": [{"algorithm": "logistic_regression", "grid": {"C": [0.1, 1.0]}}],
        **overrides,
    }
    return TrainingSpec.model_validate(raw)


def _errors(exc: pytest.ExceptionInfo[ValidationError]) -> list[tuple[str, str]]:
    return [(".".join(map(str, e["loc"])), e["msg"]) for e in exc.value.errors(include_url=False)]


def test_grids_expand_in_spec_order_with_sorted_keys() -> None:
    # GIVEN two candidates: a 2x2 logistic grid written with keys out of order, and a 1x3 forest grid
    spec = _spec(
        candidates=[
            {"algorithm": "logistic_regression", "grid": {"class_weight": [None, "balanced"], "C": [0.1, 1.0]}},
            {"algorithm": "random_forest", "grid": {"n_estimators": [20], "max_depth": [2, 4, None]}},
        ]
    )
    # WHEN the grid is expanded
    candidates = expand_candidates(spec)
    # THEN there are 2*2 + 1*3 candidates, numbered 0..6, keys in sorted order and values in listed order
    assert spec.total_candidates == 7
    assert [(c.index, c.algorithm, c.params) for c in candidates] == [
        (0, "logistic_regression", {"C": 0.1, "class_weight": None}),
        (1, "logistic_regression", {"C": 0.1, "class_weight": "balanced"}),
        (2, "logistic_regression", {"C": 1.0, "class_weight": None}),
        (3, "logistic_regression", {"C": 1.0, "class_weight": "balanced"}),
        (4, "random_forest", {"max_depth": 2, "n_estimators": 20}),
        (5, "random_forest", {"max_depth": 4, "n_estimators": 20}),
        (6, "random_forest", {"max_depth": None, "n_estimators": 20}),
    ]
    assert candidates[4].label == "random_forest(max_depth=2, n_estimators=20)"


def test_empty_grid_is_one_candidate_with_defaults() -> None:
    # GIVEN a candidate without a grid WHEN expanded THEN it is one candidate with estimator defaults
    assert expand_candidates(_spec(candidates=[{"algorithm": "gradient_boosting"}])) == [
        Candidate(index=0, algorithm="gradient_boosting", params={})
    ]


def test_unknown_hyperparameter_is_named_with_its_field() -> None:
    # GIVEN a forest grid with a typo WHEN the spec is validated
    with pytest.raises(ValidationError) as exc:
        _spec(candidates=[{"algorithm": "random_forest", "grid": {"n_estimator": [10]}}])
    # THEN the error points at candidates.0.grid and names the bad key
    ((field, message),) = _errors(exc)
    assert field == "candidates.0.grid"
    assert "'n_estimator' is not a hyperparameter of random_forest" in message


def test_seed_and_deprecated_penalty_cannot_be_searched() -> None:
    # GIVEN grids that set random_state and the deprecated logistic penalty WHEN validated
    with pytest.raises(ValidationError) as exc:
        CandidateSpec(algorithm="logistic_regression", grid={"random_state": [1, 2], "penalty": ["l1"]})
    # THEN both are refused with the reason
    ((field, message),) = _errors(exc)
    assert field == "grid"
    assert "'random_state' cannot be searched: the seed comes from training.seed" in message
    assert "'penalty' cannot be searched: it is deprecated" in message


def test_metric_must_belong_to_the_task() -> None:
    # GIVEN a regression spec selecting on roc_auc WHEN validated THEN the metric field is rejected
    with pytest.raises(ValidationError) as exc:
        _spec(task="regression", metric="roc_auc", candidates=[{"algorithm": "linear_regression"}])
    assert _errors(exc) == [
        ("metric", "Value error, 'roc_auc' is not a regression metric; choose one of rmse, mae, r2")
    ]


def test_algorithm_and_hyperparameters_must_fit_the_task() -> None:
    # GIVEN logistic regression for a regression task, and a regressor-only parameter on a classifier
    with pytest.raises(ValidationError) as exc:
        _spec(
            task="regression",
            metric="rmse",
            candidates=[{"algorithm": "logistic_regression"}, {"algorithm": "random_forest"}],
        )
    # THEN each mismatch is named by candidate
    assert "candidates.0: logistic_regression is classification-only, not regression" in str(exc.value)
    with pytest.raises(ValidationError) as exc:
        _spec(candidates=[{"algorithm": "gradient_boosting", "grid": {"alpha": [0.9]}}])
    assert "candidates.0: alpha do not apply to gradient_boosting classification" in str(exc.value)


def test_grid_budget_is_enforced() -> None:
    # GIVEN a 4x4 grid under a budget of 10 WHEN validated THEN the total is reported against the budget
    grid = {"max_depth": [2, 3, 4, 5], "n_estimators": [1, 2, 4, 8]}
    with pytest.raises(ValidationError) as exc:
        _spec(max_candidates=10, candidates=[{"algorithm": "random_forest", "grid": grid}])
    assert "the grids expand to 16 candidates, over max_candidates (10)" in str(exc.value)


def test_hyperparameter_table_matches_scikit_learn() -> None:
    # GIVEN the spec's static table WHEN compared with the estimators' own parameters
    estimators = {
        ("logistic_regression", "classification"): LogisticRegression,
        ("linear_regression", "regression"): Ridge,
        ("random_forest", "classification"): RandomForestClassifier,
        ("random_forest", "regression"): RandomForestRegressor,
        ("gradient_boosting", "classification"): GradientBoostingClassifier,
        ("hist_gradient_boosting", "classification"): HistGradientBoostingClassifier,
        ("hist_gradient_boosting", "regression"): HistGradientBoostingRegressor,
    }
    # THEN every listed name is real and only the reserved names are missing
    reserved = {"random_state", "init", "monotonic_cst", "penalty", "categorical_features", "interaction_cst"}
    for key, cls in estimators.items():
        assert set(cls().get_params()) - reserved == HYPERPARAMETERS[key], key
    # AND LightGBM's estimators take their own parameters beside scikit-learn's, two of which a grid may set
    for key, cls in {("lightgbm", "classification"): LGBMClassifier, ("lightgbm", "regression"): LGBMRegressor}.items():
        assert set(cls().get_params()) - reserved == HYPERPARAMETERS[key] - set(LIGHTGBM_EXTRA), key
        assert {"early_stopping_round", "max_bin"} <= set(cls(early_stopping_round=5, max_bin=63).get_params())
    # AND XGBoost's grids name real parameters of its estimators (a chosen subset: its tree booster's)
    for key, cls in {("xgboost", "classification"): XGBClassifier, ("xgboost", "regression"): XGBRegressor}.items():
        assert HYPERPARAMETERS[key] <= set(cls().get_params()), key
        assert HYPERPARAMETERS[key] - set(XGBOOST_TREE_PARAMETERS) == (
            {"scale_pos_weight"} if "class" in key[1] else set()
        )


def test_metric_directions_and_gate_placement() -> None:
    # GIVEN metrics of both directions WHEN asked THEN lower-is-better ones are "min"
    assert [metric_direction(m) for m in ("roc_auc", "log_loss", "rmse", "r2")] == ["max", "min", "min", "max"]
    # AND a floor on a lower-is-better metric is refused with a hint
    with pytest.raises(ValidationError) as exc:
        GatesSpec(min_metrics={"rmse": 3.0})
    assert "rmse is lower-is-better; put its bound in max_metrics" in str(exc.value)
    assert GatesSpec(min_metrics={"roc_auc": 0.7}, max_regression={"rmse": 1.0}).metrics_outside("classification") == [
        "rmse"
    ]


def fit_candidate(features: Any, frame: Any, y: Any, task: str, candidate: Candidate, seed: int) -> tuple[Any, float]:
    """What the train step does: fit on the transformed matrix, then assemble the served pipeline."""
    estimator, seconds = fit_estimator(features.transform(frame), y, task, candidate, seed)
    return assemble(features, estimator), seconds


def test_fit_candidate_reuses_the_fitted_preprocessor_without_refitting() -> None:
    # GIVEN a preprocessor fitted on the first 150 rows, and a training set of all 300 rows
    frame, target = churn_frame()
    features = preprocessor(frame.iloc[:150])
    scaler, encoder = features.named_transformers_["num"], features.named_transformers_["cat"]
    mean, scale, categories = scaler.mean_.copy(), scaler.scale_.copy(), [c.copy() for c in encoder.categories_]
    # WHEN a logistic candidate is fitted on all rows
    candidate = Candidate(index=0, algorithm="logistic_regression", params={"C": 0.5})
    started = time.perf_counter()
    pipeline, seconds = fit_candidate(features, frame, target, "classification", candidate, seed=7)
    elapsed = time.perf_counter() - started
    # THEN the pipeline holds the very same preprocessor, whose fitted state is untouched
    assert pipeline.named_steps["features"] is features
    np.testing.assert_array_equal(scaler.mean_, mean)
    np.testing.assert_array_equal(scaler.scale_, scale)
    assert all((a == b).all() for a, b in zip(encoder.categories_, categories, strict=True))
    # AND the model got the candidate's params, the seed and max_iter, and predicts from raw columns
    model = pipeline.named_steps["model"]
    assert (model.C, model.random_state, model.max_iter) == (0.5, 7, 1000)
    # AND the reported fit time is in seconds and covers only part of the call (the fit, not the transform)
    assert 0 < seconds < elapsed
    assert pipeline.predict_proba(frame.head(3)).shape == (3, 2)


def test_fit_candidate_is_deterministic_by_seed() -> None:
    # GIVEN a forest candidate and the same seed twice
    frame, target = churn_frame()
    valid, valid_y = churn_frame(seed=1)
    features = preprocessor(frame)
    candidate = Candidate(index=3, algorithm="random_forest", params={"n_estimators": 15, "max_depth": 4})
    # WHEN fitted twice
    first, _ = fit_candidate(features, frame, target, "classification", candidate, seed=11)
    second, _ = fit_candidate(features, frame, target, "classification", candidate, seed=11)
    # THEN the validation metrics are identical and cover every classification metric
    metrics = score(first, valid, valid_y, "classification")
    assert metrics == score(second, valid, valid_y, "classification")
    assert set(metrics) == set(CLASSIFICATION_METRICS)
    assert 0.6 < metrics["roc_auc"] <= 1.0


def test_regression_candidates_score_rmse_mae_r2() -> None:
    # GIVEN a regression target (monthly charges from the other columns)
    frame, _ = churn_frame()
    y = frame["monthly_charges"].to_numpy() + 3 * frame["support_calls"].to_numpy()
    features = preprocessor(frame)
    # WHEN a ridge candidate is fitted and scored
    pipeline, _ = fit_candidate(features, frame, y, "regression", Candidate(0, "linear_regression", {"alpha": 1.0}), 3)
    metrics = score(pipeline, frame, y, "regression")
    # THEN the regression metrics are reported and the fit is near perfect (the target is linear in inputs)
    assert set(metrics) == {"rmse", "mae", "r2"}
    assert metrics["r2"] > 0.99
    # AND a linear model is served with every column standardised before it (fitted with it, exported with it)
    assert isinstance(pipeline.named_steps["model"], Ridge)
    assert list(pipeline.named_steps) == ["features", "standardize", "model"]
    assert isinstance(make_estimator("regression", Candidate(0, "linear_regression", {}), 3)[-1], Ridge)


def test_make_estimator_refuses_a_task_mismatch() -> None:
    # GIVEN a linear regression candidate WHEN built for classification THEN it is refused
    with pytest.raises(ValueError, match="linear_regression cannot be trained for classification"):
        make_estimator("classification", Candidate(0, "linear_regression", {}), 1)
    assert clone(make_estimator("classification", Candidate(0, "random_forest", {}), 5)).random_state == 5


@pytest.mark.parametrize(
    ("task", "metric", "linear"),
    [("classification", "f1_macro", "logistic_regression"), ("regression", "rmse", "linear_regression")],
)
def test_candidates_auto_is_written_out_as_the_default_grids(task: str, metric: str, linear: str) -> None:
    # GIVEN the iris spec with `candidates: auto` (and a regression spec the same way)
    text = (SPECS / "iris.yaml").read_text()
    if task == "regression":
        text = (SPECS / "diabetes.yaml").read_text()
    head, _, _ = text.partition("  candidates:")
    auto = load_spec(head + "  candidates: auto\n")
    assert auto.training is not None and auto.training.metric == metric

    # WHEN parsed THEN it searches the task's linear model at two strengths and LightGBM at three tree sizes
    assert [(c.algorithm, c.grid) for c in auto.training.candidates] == [
        (linear, {"C": [0.1, 1.0]} if task == "classification" else {"alpha": [1.0, 10.0]}),
        ("lightgbm", {"num_leaves": [7, 31, 127]}),
    ]
    assert [c.algorithm for c in expand_candidates(auto.training)] == [linear] * 2 + ["lightgbm"] * 3
    # AND the stored spec names those grids: the same version as the spec that lists them itself
    assert "auto" not in dump_spec_yaml(auto) and "num_leaves" in dump_spec_yaml(auto)
    assert spec_version(load_spec(dump_spec_yaml(auto))) == spec_version(auto)
