"""Train one candidate on already-fitted features, so every candidate sees the same transform that inference runs."""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from lightgbm import LGBMClassifier, LGBMRegressor
from sklearn.base import BaseEstimator
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.exceptions import ConvergenceWarning
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
from xgboost import XGBClassifier, XGBRegressor

from slipway.domain.decision import decide
from slipway.domain.fit_warnings import CaughtWarning
from slipway.domain.transforms import Standardize
from slipway.spec.training import TrainingSpec

__all__ = [
    "Candidate",
    "assemble",
    "candidate_flags",
    "classification_metrics",
    "cross_validate",
    "decision_threshold",
    "expand_candidates",
    "fit_estimator",
    "make_estimator",
    "metrics_from_scores",
    "positive_code",
    "predict_scores",
    "refit_candidate",
    "refit_estimator",
    "score",
    "tune_threshold",
]

_ESTIMATORS: dict[tuple[str, str], type[BaseEstimator]] = {
    ("logistic_regression", "classification"): LogisticRegression,
    ("linear_regression", "regression"): Ridge,
    ("random_forest", "classification"): RandomForestClassifier,
    ("random_forest", "regression"): RandomForestRegressor,
    ("gradient_boosting", "classification"): GradientBoostingClassifier,
    ("gradient_boosting", "regression"): GradientBoostingRegressor,
    ("lightgbm", "classification"): LGBMClassifier,
    ("lightgbm", "regression"): LGBMRegressor,
    ("hist_gradient_boosting", "classification"): HistGradientBoostingClassifier,
    ("hist_gradient_boosting", "regression"): HistGradientBoostingRegressor,
    ("xgboost", "classification"): XGBClassifier,
    ("xgboost", "regression"): XGBRegressor,
}
_DEFAULTS: dict[str, dict[str, Any]] = {
    "logistic_regression": {"max_iter": 1000},
    # Up to 1000 rounds at 0.05, stopped once 50 rounds in a row did not improve the loss on the validation split
    # (LightGBM's own early stopping, on the rows that choose the winner; without validation rows all 1000 run).
    # deterministic + force_row_wise: the same trees whatever the number of threads (Lambda's 2 vCPUs, a laptop's
    # 16), so a reproduction elsewhere refits the same model. verbose -1: LightGBM's notes stay out of the log.
    "lightgbm": {
        "n_estimators": 1000,
        "learning_rate": 0.05,
        "early_stopping_round": 50,
        "deterministic": True,
        "force_row_wise": True,
        "verbose": -1,
    },
    # The same budget for XGBoost (its default "hist" trees; they come out the same on 1 thread or 2) ...
    "xgboost": {"n_estimators": 1000, "learning_rate": 0.05, "early_stopping_rounds": 50},
    # ... and for scikit-learn's histogram boosting, told to watch the validation split (X_val). It keeps every
    # round it ran, the last n_iter_no_change included (scikit-learn does not roll back to the best one), so it
    # waits 20 rounds rather than 50.
    "hist_gradient_boosting": {"max_iter": 1000, "learning_rate": 0.05, "early_stopping": True, "n_iter_no_change": 20},
}
# Linear models see every column standardised (spec transforms or not: date parts such as a year of 2018-2026,
# ratios, counts) and fit in float64. On the float32 matrix with a raw year, lbfgs stopped after 5 iterations
# without a warning (valid ROC AUC 0.29 on the demo's churn upload; 0.82 once standardised). Standardize, not
# StandardScaler: its ONNX converter computes in float64 as it does, so the exported model matches scikit-learn
# to ~1e-7 (StandardScaler's float32 Scaler op: ~3e-6 on the same data, against a 1e-5 tolerance).
_STANDARDISED = frozenset({"logistic_regression", "linear_regression"})


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
    """A fresh, unfitted scikit-learn estimator for the candidate, seeded wherever the estimator takes a seed;
    a linear model comes as ``Pipeline([("standardize", Standardize()), ("model", estimator)])``."""
    try:
        cls = _ESTIMATORS[(candidate.algorithm, task)]
    except KeyError:
        raise ValueError(f"{candidate.algorithm} cannot be trained for {task}") from None
    params: dict[str, Any] = {**_DEFAULTS.get(candidate.algorithm, {}), **candidate.params}
    if "random_state" in cls().get_params():
        params["random_state"] = seed
    estimator = cls(**params)
    if candidate.algorithm in _STANDARDISED:
        return Pipeline([("standardize", Standardize()), ("model", estimator)])
    return estimator


def fit_estimator(
    features: Any,
    y: Any,
    task: str,
    candidate: Candidate,
    seed: int,
    validation: tuple[Any, Any] | None = None,
) -> tuple[BaseEstimator, float]:
    """Fit the candidate's estimator on an already-transformed feature matrix (in float64 for a linear model,
    whose solver's tolerances assume it); returns it and its fit seconds. ``validation`` (the validation split's
    matrix and labels) is where an estimator that stops early (LightGBM) watches its loss; the others ignore it."""
    estimator = make_estimator(task, candidate, seed)
    if candidate.algorithm in _STANDARDISED:
        features = np.asarray(features, dtype=np.float64)
    fit_params = _watching(estimator, validation)
    started = time.perf_counter()
    estimator.fit(features, np.asarray(y), **fit_params)
    return estimator, time.perf_counter() - started


def _watching(estimator: Any, validation: tuple[Any, Any] | None) -> dict[str, Any]:
    """The fit arguments through which a boosting estimator watches the validation split to stop early; with no
    validation rows (or early stopping turned off in the grid) it runs every round, told so where its library
    would refuse early stopping without an evaluation set or carve one out of the training rows."""
    rows = validation is not None and len(validation[1]) > 0
    if isinstance(estimator, (LGBMClassifier, LGBMRegressor)):
        if rows and validation is not None:
            return {"eval_X": (validation[0],), "eval_y": (np.asarray(validation[1]),)}
        estimator.set_params(early_stopping_round=None)
    elif isinstance(estimator, (XGBClassifier, XGBRegressor)):
        if rows and validation is not None and estimator.get_params()["early_stopping_rounds"]:
            return {"eval_set": [(validation[0], np.asarray(validation[1]))], "verbose": False}
        estimator.set_params(early_stopping_rounds=None)
    elif isinstance(estimator, (HistGradientBoostingClassifier, HistGradientBoostingRegressor)):
        if rows and validation is not None and estimator.early_stopping is not False:  # True, or "auto" (> 10,000)
            return {"X_val": validation[0], "y_val": np.asarray(validation[1])}
        estimator.set_params(early_stopping=False)
    return {}


def refit_candidate(candidate: Candidate, fitted: Any) -> Candidate:
    """The candidate to fit again on train + validation (``training.refit``): the same one, except that an
    estimator that stopped early keeps the rounds it stopped at (nothing is left to watch)."""
    rounds = _rounds_kept(candidate.algorithm, fitted)
    if rounds is None:
        return candidate
    name = "max_iter" if candidate.algorithm == "hist_gradient_boosting" else "n_estimators"
    return Candidate(candidate.index, candidate.algorithm, {**candidate.params, name: rounds})


def _rounds_kept(algorithm: str, fitted: Any) -> int | None:
    """How many rounds an early-stopped boosting model predicts with (None: it did not stop early)."""
    if algorithm == "lightgbm":
        rounds = getattr(fitted, "best_iteration_", None)
        return rounds if isinstance(rounds, int) and rounds > 0 else None
    if algorithm == "xgboost":
        best = getattr(fitted, "best_iteration", None) if fitted.get_params().get("early_stopping_rounds") else None
        return int(best) + 1 if best is not None else None
    if algorithm == "hist_gradient_boosting" and getattr(fitted, "do_early_stopping_", False):
        return int(fitted.n_iter_)
    return None


def refit_estimator(
    train: tuple[Any, Any], valid: tuple[Any, Any], task: str, candidate: Candidate, seed: int
) -> tuple[BaseEstimator, float]:
    """``training.refit``: ``candidate`` (the winner's ``refit_candidate``) fitted on the training and validation
    rows together; returns it and its fit seconds."""
    X = np.concatenate([np.asarray(train[0]), np.asarray(valid[0])])
    y = np.concatenate([np.asarray(train[1]), np.asarray(valid[1])])
    return fit_estimator(X, y, task, candidate, seed)


def assemble(preprocessor: Any, estimator: Any) -> Pipeline:
    """The served model: the fitted feature transforms (never refitted), then the fitted estimator's steps, the
    last named ``model`` (a linear model's standardisation before it)."""
    steps = estimator.steps if isinstance(estimator, Pipeline) else [("model", estimator)]
    return Pipeline([("features", preprocessor), *steps])


def predict_scores(model: Any, X: Any, task: str) -> np.ndarray:
    """Classification: the ``(n, k)`` class probabilities, columns in label-code order; regression: the
    ``(n,)`` predictions. Float arrays."""
    if task == "classification":
        return np.asarray(model.predict_proba(X), dtype=float)
    return np.asarray(model.predict(X), dtype=float)


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def positive_code(labels: list[Any] | None, positive_label: Any = None) -> int:
    """The class code whose precision/recall/f1 a binary model reports: ``positive_label``'s, else the greater."""
    if labels is None or positive_label is None:
        return 1
    return labels.index(positive_label)


def _roc_auc(truth: np.ndarray, proba: np.ndarray, positive: int) -> float | None:
    """Binary: AUC of the positive class. Several classes: one-vs-rest AUC per class, macro-averaged over the
    classes that have both positives and negatives here (None when none has)."""
    k = proba.shape[1]
    classes = [positive] if k == 2 else list(range(k))
    aucs = [float(roc_auc_score(truth == c, proba[:, c])) for c in classes if 0 < int(np.sum(truth == c)) < len(truth)]
    return float(np.mean(aucs)) if aucs else None


def _log_loss(truth: np.ndarray, scores: np.ndarray) -> float:
    """Log loss of float32 models' probabilities, whose rows sum to 1 only within float32 rounding: a binary
    model is scored on P(class 1) alone (as scikit-learn does), more classes on rows renormalised to sum 1."""
    k = scores.shape[1]
    clipped = np.clip(scores, 0.0, 1.0)
    if k == 2:
        return float(log_loss(truth, clipped[:, 1], labels=[0, 1]))
    total = clipped.sum(axis=1, keepdims=True)
    return float(log_loss(truth, clipped / np.where(total > 0, total, 1.0), labels=list(range(k))))


def classification_metrics(
    y_true: Any, proba: Any, positive: int = 1, threshold: float | None = None
) -> dict[str, float | None]:
    """Scalar metrics from label codes and ``(n, k)`` probabilities; the prediction is the most probable class
    (as scikit-learn's ``predict``), or with ``threshold`` (two classes) ``positive`` where its probability reaches
    it. f1/precision/recall are of class ``positive`` and only for two classes."""
    truth = np.asarray(y_true).astype(np.int64)
    scores = np.asarray(proba, dtype=float)
    if scores.ndim != 2:
        raise ValueError(f"classification metrics need (n, k) class probabilities, got shape {scores.shape}")
    k = scores.shape[1]
    codes = list(range(k))
    if len(truth) == 0:
        names = ("roc_auc", "accuracy", "log_loss", "f1_macro", "f1_weighted", "precision_macro", "recall_macro")
        return {name: None for name in names + (("f1", "precision", "recall") if k == 2 else ())}
    predicted = decide(scores, positive, threshold)
    averaged = {
        f"{name}_{average}": float(fn(truth, predicted, labels=codes, average=average, zero_division=0))
        for name, fn in (("f1", f1_score), ("precision", precision_score), ("recall", recall_score))
        for average in ("macro", "weighted")
    }
    metrics: dict[str, float | None] = {
        "roc_auc": _roc_auc(truth, scores, positive),
        "accuracy": float(accuracy_score(truth, predicted)),
        "log_loss": _log_loss(truth, scores),
        "f1_macro": averaged["f1_macro"],
        "f1_weighted": averaged["f1_weighted"],
        "precision_macro": averaged["precision_macro"],
        "recall_macro": averaged["recall_macro"],
    }
    if k == 2:
        for name, fn in (("f1", f1_score), ("precision", precision_score), ("recall", recall_score)):
            metrics[name] = float(fn(truth, predicted, labels=codes, pos_label=positive, zero_division=0))
    return metrics


def metrics_from_scores(
    y_true: Any, y_score: Any, task: str, positive: int = 1, threshold: float | None = None
) -> dict[str, float | None]:
    """Task metrics from true values and ``predict_scores`` output (label codes and class probabilities for
    classification). ``roc_auc`` is ``None`` where it is undefined (a single class present)."""
    if task == "classification":
        return classification_metrics(y_true, y_score, positive, threshold)
    if task != "regression":
        raise ValueError(f"unknown task {task!r}")
    truth = np.asarray(y_true).astype(float)
    scores = np.asarray(y_score, dtype=float)
    return {
        "rmse": float(root_mean_squared_error(truth, scores)),
        "mae": float(mean_absolute_error(truth, scores)),
        "r2": _finite(float(r2_score(truth, scores))) if len(truth) > 1 else None,
    }


def score(model: Any, X: Any, y: Any, task: str, positive: int = 1) -> dict[str, float | None]:
    """Validation metrics of a fitted pipeline (or estimator) on ``X``/``y``: every metric of the task."""
    return metrics_from_scores(y, predict_scores(model, X, task), task, positive)


def candidate_flags(task: str, metrics: dict[str, float | None], caught: list[CaughtWarning]) -> list[str]:
    """What to know before trusting a candidate's score, from its validation metrics and the warnings it raised:
    ``not_converged`` (its solver stopped before converging: a ConvergenceWarning), ``numerical_warning``
    (overflow, division by zero, an ill-conditioned system: a RuntimeWarning) and ``below_chance`` (validation
    ROC AUC under 0.5; for regression r² under 0, worse than predicting the mean)."""
    flags = []
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        flags.append("not_converged")
    if any(issubclass(w.category, RuntimeWarning) for w in caught):
        flags.append("numerical_warning")
    chance_metric, chance = ("roc_auc", 0.5) if task == "classification" else ("r2", 0.0)
    value = metrics.get(chance_metric)
    if value is not None and value < chance:
        flags.append("below_chance")
    return flags


# Metrics a decision threshold moves (the others rank by probability: ROC AUC, log loss). precision and recall alone
# are left out: a threshold pushes either to 1 by predicting almost nothing, or everything, positive.
THRESHOLD_METRICS: tuple[str, ...] = ("accuracy", "f1", "f1_macro", "f1_weighted", "precision_macro", "recall_macro")


def tune_threshold(y_true: Any, proba: Any, positive: int, metric: str) -> tuple[float | None, str]:
    """The decision threshold (``training.threshold: tune``) that maximises ``metric`` — or f1 of ``positive`` when
    a threshold does not move ``metric`` — on these rows (the validation split), among 0.5 and the 1st…99th
    percentiles of P(positive); ties go to the threshold nearest 0.5. Returns (threshold, the metric it maximised),
    or (None, why) when there is nothing to tune on."""
    truth = np.asarray(y_true).astype(np.int64)
    scores = np.asarray(proba, dtype=np.float64)
    target = metric if metric in THRESHOLD_METRICS else "f1"
    if scores.ndim != 2 or scores.shape[1] != 2:
        return None, "a decision threshold applies to two classes only"
    if len(truth) == 0 or len(np.unique(truth)) < 2:
        return None, "the validation split does not hold both labels"
    p = scores[:, positive]
    candidates = np.unique(np.concatenate([np.quantile(p, np.linspace(0.01, 0.99, 99)), [0.5]]))
    best: tuple[float, float] | None = None
    for t in candidates.tolist():
        value = classification_metrics(truth, scores, positive, t)[target]
        key = (float(value or 0.0), -abs(t - 0.5))
        if best is None or key > (best[0], -abs(best[1] - 0.5)):
            best = (key[0], t)
    assert best is not None
    return float(best[1]), target


def cross_validate(
    X: Any, y: Any, task: str, candidate: Candidate, seed: int, folds: int, positive: int = 1
) -> dict[str, Any] | None:
    """The candidate's metrics over ``folds`` folds of ``X``/``y`` (stratified by class for classification, shuffled
    with ``seed``): per metric the mean and the standard deviation across folds, and the folds used. A class with
    fewer rows than folds lowers the folds to its count; None when fewer than 2 remain. LightGBM watches each fold's
    held-out rows to stop early, as it watches the validation split."""
    from sklearn.model_selection import KFold, StratifiedKFold

    X, y = np.asarray(X), np.asarray(y)
    if task == "classification":
        counts = np.bincount(y.astype(np.int64))
        folds = min(folds, int(counts[counts > 0].min(initial=len(y))))
        splitter: Any = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed) if folds >= 2 else None
    else:
        folds = min(folds, len(y))
        splitter = KFold(n_splits=folds, shuffle=True, random_state=seed) if folds >= 2 else None
    if splitter is None:
        return None
    scores: list[dict[str, float | None]] = []
    for fit_rows, held_out in splitter.split(X, y):
        estimator, _ = fit_estimator(X[fit_rows], y[fit_rows], task, candidate, seed, (X[held_out], y[held_out]))
        scores.append(score(estimator, X[held_out], y[held_out], task, positive))
    mean: dict[str, float | None] = {}
    sd: dict[str, float | None] = {}
    for name in scores[0]:
        values = [v for s in scores if (v := s.get(name)) is not None and math.isfinite(v)]
        mean[name] = float(np.mean(values)) if values else None
        sd[name] = float(np.std(values, ddof=1)) if len(values) > 1 else None
    return {"folds": folds, "mean": mean, "sd": sd}


def decision_threshold(
    wanted: float | str | None,
    model: Any,
    validation: Callable[[], tuple[Any, Any]],
    positive: int,
    metric: str,
) -> dict[str, Any]:
    """A binary model's decision threshold as ``training.threshold`` asks (``wanted``; None for other models) and how
    it was chosen: ``{"threshold", "rule"}``, with ``metric`` and ``validation_rows`` when tuned. ``tune`` maximises
    ``metric`` on ``model``'s probabilities of the validation split (``validation()``: its matrix and label codes,
    read only then) — the model as selected, before any refit. The evaluate step and `slipway reproduce` both call
    this, so a reproduction chooses as training did."""
    if wanted is None:
        return {"threshold": None, "rule": "the most probable label"}
    if wanted != "tune":
        return {"threshold": float(wanted), "rule": "set in the spec"}
    matrix, y = validation()
    threshold, target = tune_threshold(y, predict_scores(model, matrix, "classification"), positive, metric)
    if threshold is None:
        return {"threshold": None, "rule": f"the most probable label: not tuned ({target})"}
    rule = f"tuned on the validation split for {target}"
    return {"threshold": threshold, "rule": rule, "metric": target, "validation_rows": len(y)}
