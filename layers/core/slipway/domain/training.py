"""Train one candidate on already-fitted features, so every candidate sees the same transform that inference runs."""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
    root_mean_squared_error,
)
from sklearn.pipeline import Pipeline

from slipway.spec.training import TrainingSpec

__all__ = [
    "THRESHOLD",
    "Candidate",
    "assemble",
    "expand_candidates",
    "fit_estimator",
    "make_estimator",
    "metrics_from_scores",
    "predict_scores",
    "score",
]

# A row is predicted positive when P(class 1) > THRESHOLD, exactly as scikit-learn's ``predict`` decides.
THRESHOLD = 0.5

_ESTIMATORS: dict[tuple[str, str], type[BaseEstimator]] = {
    ("logistic_regression", "classification"): LogisticRegression,
    ("linear_regression", "regression"): Ridge,
    ("random_forest", "classification"): RandomForestClassifier,
    ("random_forest", "regression"): RandomForestRegressor,
    ("gradient_boosting", "classification"): GradientBoostingClassifier,
    ("gradient_boosting", "regression"): GradientBoostingRegressor,
}
_DEFAULTS: dict[str, dict[str, Any]] = {"logistic_regression": {"max_iter": 1000}}


@dataclass(frozen=True)
class Candidate:
    """One point of the search: an algorithm with concrete hyperparameters; ``index`` is its place in the run."""

    index: int
    algorithm: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """Readable name such as ``random_forest(max_depth=4, n_estimators=200)``."""
        args = ", ".join(f"{k}={v!r}" for k, v in sorted(self.params.items()))
        return f"{self.algorithm}({args})"


def expand_candidates(training: TrainingSpec) -> list[Candidate]:
    """The Cartesian product of every grid, in spec order; within a grid, keys sorted and values in listed order.

    Keys are sorted because the spec version is a hash of sorted JSON: the same spec version must
    always give the same candidate at the same index.
    """
    out: list[Candidate] = []
    for spec in training.candidates:
        keys = sorted(spec.grid)
        for values in itertools.product(*(spec.grid[k] for k in keys)):
            out.append(Candidate(index=len(out), algorithm=spec.algorithm, params=dict(zip(keys, values, strict=True))))
    return out


def make_estimator(task: str, candidate: Candidate, seed: int) -> BaseEstimator:
    """A fresh, unfitted scikit-learn estimator for the candidate, seeded wherever the estimator takes a seed."""
    try:
        cls = _ESTIMATORS[(candidate.algorithm, task)]
    except KeyError:
        raise ValueError(f"{candidate.algorithm} cannot be trained for {task}") from None
    params: dict[str, Any] = {**_DEFAULTS.get(candidate.algorithm, {}), **candidate.params}
    if "random_state" in cls().get_params():
        params["random_state"] = seed
    return cls(**params)


def fit_estimator(features: Any, y: Any, task: str, candidate: Candidate, seed: int) -> tuple[BaseEstimator, float]:
    """Fit the candidate's estimator on an already-transformed feature matrix; returns it and its fit seconds."""
    estimator = make_estimator(task, candidate, seed)
    started = time.perf_counter()
    estimator.fit(features, np.asarray(y))
    return estimator, time.perf_counter() - started


def assemble(preprocessor: Any, estimator: Any) -> Pipeline:
    """The served model: the fitted feature transforms (never refitted) followed by the fitted estimator."""
    return Pipeline([("features", preprocessor), ("model", estimator)])


def predict_scores(model: Any, X: Any, task: str) -> np.ndarray:
    """P(class 1) for classification, the prediction for regression, as a float array."""
    if task == "classification":
        classes = list(getattr(model, "classes_", [0, 1]))
        if len(classes) != 2:
            raise ValueError(f"binary classification needs two classes, the model knows {classes!r}")
        return np.asarray(model.predict_proba(X)[:, 1], dtype=float)
    return np.asarray(model.predict(X), dtype=float)


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def metrics_from_scores(y_true: Any, y_score: Any, task: str) -> dict[str, float | None]:
    """Task metrics from true values and scores (P(class 1) or regression predictions).

    ``roc_auc`` is ``None`` when ``y_true`` holds a single class (it is undefined there).
    """
    truth = np.asarray(y_true)
    scores = np.asarray(y_score, dtype=float)
    if task == "regression":
        truth = truth.astype(float)
        return {
            "rmse": float(root_mean_squared_error(truth, scores)),
            "mae": float(mean_absolute_error(truth, scores)),
            "r2": _finite(float(r2_score(truth, scores))) if len(truth) > 1 else None,
        }
    if task != "classification":
        raise ValueError(f"unknown task {task!r}")
    truth = truth.astype(int)
    predicted = (scores > THRESHOLD).astype(int)
    both_classes = np.unique(truth).size == 2
    return {
        "roc_auc": float(roc_auc_score(truth, scores)) if both_classes else None,
        "f1": float(f1_score(truth, predicted, zero_division=0)),
        "accuracy": float(accuracy_score(truth, predicted)),
        "precision": float(precision_score(truth, predicted, zero_division=0)),
        "recall": float(recall_score(truth, predicted, zero_division=0)),
        "log_loss": float(log_loss(truth, np.clip(scores, 0.0, 1.0), labels=[0, 1])),
    }


def score(model: Any, X: Any, y: Any, task: str) -> dict[str, float | None]:
    """Validation metrics of a fitted pipeline (or estimator) on ``X``/``y``: every metric of the task."""
    return metrics_from_scores(y, predict_scores(model, X, task), task)
