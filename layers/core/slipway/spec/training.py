"""Training and gates sections of the model spec, checked without importing scikit-learn so readers stay light."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from slipway.schema import Frozen

__all__ = [
    "ALGORITHM_TASKS",
    "AUTO_CANDIDATES",
    "BINARY_ONLY_METRICS",
    "CLASSIFICATION_METRICS",
    "CV_AUTO_FOLDS",
    "CV_AUTO_ROWS",
    "FAIRNESS_METRICS",
    "HYPERPARAMETERS",
    "LIGHTGBM_EXTRA",
    "REGRESSION_METRICS",
    "XGBOOST_TREE_PARAMETERS",
    "Algorithm",
    "CandidateSpec",
    "FairnessMetric",
    "GatesSpec",
    "GridValue",
    "Task",
    "TrainingSpec",
    "grid_size",
    "metric_direction",
]

Task = Literal["classification", "regression"]
Algorithm = Literal[
    "logistic_regression",
    "linear_regression",
    "random_forest",
    "gradient_boosting",
    "hist_gradient_boosting",
    "lightgbm",
    "xgboost",
]
FairnessMetric = Literal["demographic_parity_difference", "equal_opportunity_difference"]
GridValue = int | float | str | bool | None

# Classification metrics for any number of classes; f1/precision/recall are of the positive class, so binary only.
CLASSIFICATION_METRICS: tuple[str, ...] = (
    "roc_auc", "accuracy", "log_loss", "f1_macro", "f1_weighted", "precision_macro", "recall_macro",
    "f1", "precision", "recall",
)  # fmt: skip
BINARY_ONLY_METRICS: tuple[str, ...] = ("f1", "precision", "recall")
REGRESSION_METRICS: tuple[str, ...] = ("rmse", "mae", "r2")
FAIRNESS_METRICS: tuple[str, ...] = ("demographic_parity_difference", "equal_opportunity_difference")
_LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae"})
_METRICS_BY_TASK = {"classification": CLASSIFICATION_METRICS, "regression": REGRESSION_METRICS}

ALGORITHM_TASKS: dict[str, tuple[str, ...]] = {
    "logistic_regression": ("classification",),
    "linear_regression": ("regression",),
    "random_forest": ("classification", "regression"),
    "gradient_boosting": ("classification", "regression"),
    "hist_gradient_boosting": ("classification", "regression"),
    "lightgbm": ("classification", "regression"),
    "xgboost": ("classification", "regression"),
}

# Grid-settable constructor parameters of the estimator behind each (algorithm, task), as in
# scikit-learn 1.9 ``get_params()`` minus the ones a grid must not set (see _RESERVED). Kept as data so
# that reading a spec never imports scikit-learn; tests/unit/test_training.py checks it against sklearn.
_LOGISTIC = (
    "C", "class_weight", "dual", "fit_intercept", "intercept_scaling", "l1_ratio", "max_iter", "n_jobs", "solver",
    "tol", "verbose", "warm_start",
)  # fmt: skip
_TREE = (
    "ccp_alpha", "criterion", "max_depth", "max_features", "max_leaf_nodes", "min_impurity_decrease",
    "min_samples_leaf", "min_samples_split", "min_weight_fraction_leaf", "n_estimators", "verbose", "warm_start",
)  # fmt: skip
_FOREST = (*_TREE, "bootstrap", "max_samples", "n_jobs", "oob_score")
_BOOSTING = (*_TREE, "learning_rate", "loss", "n_iter_no_change", "subsample", "tol", "validation_fraction")
# LightGBM's scikit-learn estimators (LGBMClassifier/LGBMRegressor ``get_params()``), plus two of its own parameters
# a grid may set: ``early_stopping_round`` (rounds without improvement on the validation split before it stops) and
# ``max_bin`` (histogram bins per feature).
LIGHTGBM_EXTRA = ("early_stopping_round", "max_bin")
_LIGHTGBM = (
    "boosting_type", "class_weight", "colsample_bytree", "importance_type", "learning_rate", "max_depth",
    "min_child_samples", "min_child_weight", "min_split_gain", "n_estimators", "n_jobs", "num_leaves", "objective",
    "reg_alpha", "reg_lambda", "subsample", "subsample_for_bin", "subsample_freq", *LIGHTGBM_EXTRA,
)  # fmt: skip
# scikit-learn's HistGradientBoosting*: every constructor parameter but the reserved ones (categorical_features,
# interaction_cst, monotonic_cst, random_state).
_HIST = (
    "early_stopping", "l2_regularization", "learning_rate", "loss", "max_bins", "max_depth", "max_features", "max_iter",
    "max_leaf_nodes", "min_samples_leaf", "n_iter_no_change", "scoring", "tol", "validation_fraction", "verbose",
    "warm_start",
)  # fmt: skip
# XGBoost's scikit-learn estimators (XGBClassifier/XGBRegressor): the parameters of the tree booster a grid may set.
# Left out: booster (gblinear/dart: no tree export or explanation), objective and base_score (the ONNX export and the
# explanation follow the default objective of the task), num_parallel_tree (onnxmltools 1.16 exports more than one
# tree per round wrongly: probabilities off by 0.63 on digits, 0.45 of the value on diabetes), callbacks and the
# categorical, GPU and constraint settings.
XGBOOST_TREE_PARAMETERS = (
    "colsample_bylevel", "colsample_bynode", "colsample_bytree", "early_stopping_rounds", "gamma", "grow_policy",
    "learning_rate", "max_bin", "max_delta_step", "max_depth", "max_leaves", "min_child_weight", "n_estimators",
    "n_jobs", "reg_alpha", "reg_lambda", "subsample", "tree_method",
)  # fmt: skip
HYPERPARAMETERS: dict[tuple[str, str], frozenset[str]] = {
    ("logistic_regression", "classification"): frozenset(_LOGISTIC),
    ("linear_regression", "regression"): frozenset(
        {"alpha", "copy_X", "fit_intercept", "max_iter", "positive", "solver", "tol"}
    ),
    ("random_forest", "classification"): frozenset({*_FOREST, "class_weight"}),
    ("random_forest", "regression"): frozenset(_FOREST),
    ("gradient_boosting", "classification"): frozenset(_BOOSTING),
    ("gradient_boosting", "regression"): frozenset({*_BOOSTING, "alpha"}),
    ("lightgbm", "classification"): frozenset(_LIGHTGBM),
    ("lightgbm", "regression"): frozenset(_LIGHTGBM),
    ("hist_gradient_boosting", "classification"): frozenset({*_HIST, "class_weight"}),
    ("hist_gradient_boosting", "regression"): frozenset({*_HIST, "quantile"}),
    ("xgboost", "classification"): frozenset({*XGBOOST_TREE_PARAMETERS, "scale_pos_weight"}),
    ("xgboost", "regression"): frozenset(XGBOOST_TREE_PARAMETERS),
}
_RESERVED: dict[str, str] = {
    "random_state": "the seed comes from training.seed",
    "init": "it takes an estimator object, not a grid value",
    "monotonic_cst": "it takes an array, not a grid value",
    "penalty": "it is deprecated since scikit-learn 1.8; use l1_ratio (0 = l2, 1 = l1) or C",
    "categorical_features": "categories reach the model encoded by features.transforms (ONNX has no such splits)",
    "interaction_cst": "it takes sets of columns, not a grid value",
    "num_parallel_tree": "onnxmltools 1.16 exports XGBoost rounds of several trees wrongly",
    "booster": "XGBoost's gblinear and dart have no tree export or explanation (gbtree is used)",
}

# Values a grid may not take for one algorithm's parameter, and why.
_LOG_LINK = "skl2onnx 1.20 exports its trees' sum without the exponential (values ~98 % off; no ONNX to serve)"
_REFUSED_VALUES: dict[tuple[str, str, str], str] = {
    ("hist_gradient_boosting", "loss", "poisson"): _LOG_LINK,
    ("hist_gradient_boosting", "loss", "gamma"): _LOG_LINK,
}


def metric_direction(metric: str) -> Literal["max", "min"]:
    """``"min"`` for lower-is-better metrics (log_loss, rmse, mae, fairness gaps), ``"max"`` otherwise."""
    if metric in _LOWER_IS_BETTER or metric in FAIRNESS_METRICS:
        return "min"
    if metric in CLASSIFICATION_METRICS or metric in REGRESSION_METRICS:
        return "max"
    raise ValueError(f"unknown metric {metric!r}; known: {', '.join(CLASSIFICATION_METRICS + REGRESSION_METRICS)}")


def grid_size(grid: dict[str, list[GridValue]]) -> int:
    """Number of hyperparameter combinations a grid expands to (1 for an empty grid)."""
    return math.prod(len(values) for values in grid.values())


class CandidateSpec(Frozen):
    """One algorithm and its hyperparameter grid; the grid is searched exhaustively."""

    algorithm: Algorithm
    grid: dict[str, list[GridValue]] = Field(default_factory=dict)

    @field_validator("grid")
    @classmethod
    def _grid_names_hyperparameters(
        cls, value: dict[str, list[GridValue]], info: ValidationInfo
    ) -> dict[str, list[GridValue]]:
        algorithm = info.data.get("algorithm")
        if algorithm is None:
            return value
        problems: list[str] = []
        known = set().union(*(HYPERPARAMETERS[(algorithm, t)] for t in ALGORITHM_TASKS[algorithm]))
        for name, values in value.items():
            if name in _RESERVED:
                problems.append(f"{name!r} cannot be searched: {_RESERVED[name]}")
            elif name not in known:
                problems.append(f"{name!r} is not a hyperparameter of {algorithm} (known: {', '.join(sorted(known))})")
            elif not values:
                problems.append(f"{name!r} lists no values")
            elif len({(type(v).__name__, v) for v in values}) < len(values):
                problems.append(f"{name!r} repeats a value: {values!r}")
            for refused in [v for v in values if isinstance(v, str) and (algorithm, name, v) in _REFUSED_VALUES]:
                problems.append(f"{name} {refused!r} cannot be searched: {_REFUSED_VALUES[(algorithm, name, refused)]}")
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @property
    def size(self) -> int:
        """How many candidates this grid expands to."""
        return grid_size(self.grid)


# `candidates: auto`: the grids slipway searches when a spec does not choose, written into the stored spec at push
# (so its version names the concrete grids, and a later slipway with another portfolio makes another version).
# LightGBM at three tree sizes (each stopped early on the validation split) beside the task's linear model at two
# strengths; bench/automl measures it against FLAML on public tables.
AUTO_CANDIDATES: dict[str, list[dict[str, object]]] = {
    "classification": [
        {"algorithm": "logistic_regression", "grid": {"C": [0.1, 1.0]}},
        {"algorithm": "lightgbm", "grid": {"num_leaves": [7, 31, 127]}},
    ],
    "regression": [
        {"algorithm": "linear_regression", "grid": {"alpha": [1.0, 10.0]}},
        {"algorithm": "lightgbm", "grid": {"num_leaves": [7, 31, 127]}},
    ],
}


def _list_or_auto(schema: dict[str, Any]) -> None:
    """The JSON schema of ``candidates``: the list of grids, or the word ``auto``."""
    listed = {k: schema.pop(k) for k in list(schema) if k not in ("title", "description")}
    schema["anyOf"] = [listed, {"const": "auto", "type": "string"}]


# Up to this many training + validation rows, `cv: auto` cross-validates: a validation split of ~2,000 rows or
# fewer measures accuracy to about ±1 point (one standard error), as much as candidates differ by, and on scikit-learn's
# digits (288 validation rows) it chose between two candidates by chance; 5 folds score every candidate on all the
# rows, for 5 fits of a small table. Above it, one validation split is precise enough and folds would cost 5×.
CV_AUTO_ROWS = 10_000
CV_AUTO_FOLDS = 5


class TrainingSpec(Frozen):
    """What to train: the task, the selection metric, the seed and the candidate grid (a small AutoML)."""

    task: Task
    metric: str
    seed: int = 42
    # A list of grids, or "auto" for AUTO_CANDIDATES of the task.
    candidates: list[CandidateSpec] = Field(min_length=1, json_schema_extra=_list_or_auto)
    max_candidates: int = Field(default=50, ge=1)
    # Fit the winner again on the training and validation rows before it is measured on the test rows and served
    # (LightGBM with the number of rounds early stopping chose); False: it is served as fitted on the training rows.
    # Not the default after cross-validation (where it would be natural): a refit linear model's last bits depend on
    # the BLAS kernel, and `slipway reproduce` on another machine then reports it within tolerance, not identical,
    # until reproduction runs where training ran (issue 20).
    refit: bool = False
    # Binary classification: the label whose precision, recall, f1 and fairness rates are reported (the
    # greater of the two labels otherwise: 1, true, or the later text in sorting order).
    positive_label: bool | int | str | None = None
    # Binary classification: when the positive label is predicted. None: the more probable label (a threshold of
    # 0.5); a number in (0, 1): P(positive) at or above it; "tune": the threshold that maximises the metric on the
    # validation split (the spec's metric when a threshold moves it — accuracy, f1, f1_macro, f1_weighted,
    # precision_macro, recall_macro — else f1 of the positive label), stored with the version and applied by
    # serving, batch scoring and every metric that counts predicted labels.
    threshold: float | Literal["tune"] | None = None
    # How candidates are compared: "auto" — k-fold cross-validation (5 folds over the training and validation rows,
    # stratified for classification; the test split untouched) when those rows number at most CV_AUTO_ROWS, else the
    # validation split; a number k >= 2 — always k folds; "none" — always the validation split. Each candidate's
    # served model is fitted on the training rows either way (LightGBM stopping early on the validation split).
    cv: int | Literal["auto", "none"] = "auto"

    @field_validator("candidates", mode="before")
    @classmethod
    def _auto_is_the_default_portfolio(cls, value: object, info: ValidationInfo) -> object:
        if value != "auto":
            return value
        task = info.data.get("task")
        if task is None:
            raise ValueError("candidates: auto needs a valid task")
        return [dict(c) for c in AUTO_CANDIDATES[task]]

    @field_validator("metric")
    @classmethod
    def _metric_fits_task(cls, value: str, info: ValidationInfo) -> str:
        task = info.data.get("task")
        if task is not None and value not in _METRICS_BY_TASK[task]:
            raise ValueError(f"{value!r} is not a {task} metric; choose one of {', '.join(_METRICS_BY_TASK[task])}")
        return value

    @model_validator(mode="after")
    def _candidates_fit_task_and_budget(self) -> TrainingSpec:
        problems: list[str] = []
        for i, candidate in enumerate(self.candidates):
            if self.task not in ALGORITHM_TASKS[candidate.algorithm]:
                problems.append(
                    f"candidates.{i}: {candidate.algorithm} is {ALGORITHM_TASKS[candidate.algorithm][0]}-only, "
                    f"not {self.task}"
                )
                continue
            wrong = sorted(set(candidate.grid) - HYPERPARAMETERS[(candidate.algorithm, self.task)])
            if wrong:
                problems.append(f"candidates.{i}: {', '.join(wrong)} do not apply to {candidate.algorithm} {self.task}")
        total = sum(c.size for c in self.candidates)
        if total > self.max_candidates:
            problems.append(f"the grids expand to {total} candidates, over max_candidates ({self.max_candidates})")
        if self.positive_label is not None and self.task != "classification":
            problems.append("positive_label applies only to classification")
        if isinstance(self.cv, int) and self.cv < 2:
            problems.append(f"cv {self.cv}: cross-validation needs at least 2 folds (or auto, or none)")
        if self.threshold is not None and self.task != "classification":
            problems.append("threshold applies only to (binary) classification")
        if isinstance(self.threshold, float) and not 0 < self.threshold < 1:
            problems.append(f"threshold {self.threshold} is not between 0 and 1")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def folds(self, rows: int) -> int | None:
        """How many folds candidates are cross-validated on, for ``rows`` training + validation rows; None: the
        validation split decides."""
        if self.cv == "none":
            return None
        if self.cv == "auto":
            return CV_AUTO_FOLDS if rows <= CV_AUTO_ROWS else None
        return self.cv

    @property
    def total_candidates(self) -> int:
        """How many candidates the whole search trains."""
        return sum(c.size for c in self.candidates)


class GatesSpec(Frozen):
    """What a challenger must reach before it is registered: metric floors/ceilings, regression, fairness."""

    min_metrics: dict[str, float] = Field(default_factory=dict)
    max_metrics: dict[str, float] = Field(default_factory=dict)
    max_regression: dict[str, float] = Field(default_factory=dict)
    max_fairness_gap: dict[FairnessMetric, float] = Field(default_factory=dict)
    fairness_min_group_size: int = Field(default=30, ge=1)  # smaller groups are reported, not gated

    @field_validator("min_metrics", "max_metrics", "max_regression")
    @classmethod
    def _known_metrics(cls, value: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        problems: list[str] = []
        for metric, bound in value.items():
            try:
                direction = metric_direction(metric)
            except ValueError as exc:
                problems.append(str(exc))
                continue
            if metric in FAIRNESS_METRICS:
                problems.append(f"{metric} belongs in max_fairness_gap")
            elif info.field_name == "min_metrics" and direction == "min":
                problems.append(f"{metric} is lower-is-better; put its bound in max_metrics")
            elif info.field_name == "max_metrics" and direction == "max":
                problems.append(f"{metric} is higher-is-better; put its bound in min_metrics")
            elif info.field_name == "max_regression" and bound < 0:
                problems.append(f"allowed regression of {metric} must be >= 0, got {bound:g}")
            elif not math.isfinite(bound):
                problems.append(f"bound of {metric} must be a finite number")
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("max_fairness_gap")
    @classmethod
    def _gap_is_a_rate_difference(cls, value: dict[str, float]) -> dict[str, float]:
        wrong = [f"{name} {gap:g}" for name, gap in value.items() if not 0.0 <= gap <= 1.0]
        if wrong:
            raise ValueError(f"fairness gaps are rate differences between 0 and 1: {', '.join(wrong)}")
        return value

    def metrics_outside(self, task: Task) -> list[str]:
        """Gate metrics that the task does not produce (for the model spec to reject)."""
        return sorted({m for m in self.metrics_named() if m not in _METRICS_BY_TASK[task]})

    def metrics_named(self) -> list[str]:
        """Every metric a gate bounds, in gate order."""
        return [*self.min_metrics, *self.max_metrics, *self.max_regression]
