"""Evaluation: metrics match hand computation, fairness gaps are right, gates fail with readable reasons."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from slipway.domain import evaluation
from slipway.domain.evaluation import compare, decide_gates, fairness, select_best, top_importances
from slipway.domain.evaluation import holdout_metrics as measure_test_split
from slipway.spec.training import GatesSpec


def _result(index: int, **metrics: float | None) -> dict[str, Any]:
    return {"index": index, "algorithm": "random_forest", "params": {"max_depth": index}, "metrics": metrics}


# --- metrics ---------------------------------------------------------------------------------------------------


def test_classification_metrics_match_hand_computation() -> None:
    # GIVEN 5 rows; only scores above 0.5 are positive, so predictions are [0, 1, 0, 1, 0] (as sklearn's predict)
    y_true = [0, 0, 1, 1, 1]
    y_score = [0.1, 0.6, 0.4, 0.9, 0.5]
    # WHEN the test metrics are computed from the class probabilities
    m = measure_test_split(y_true, np.column_stack([1 - np.array(y_score), y_score]), "classification")
    # THEN TN=1 FP=1 FN=2 TP=1, and every metric follows from those counts
    assert m["confusion_matrix"] == [[1, 1], [2, 1]]
    assert m["accuracy"] == pytest.approx(2 / 5)
    assert m["precision"] == pytest.approx(1 / 2)
    assert m["recall"] == pytest.approx(1 / 3)
    assert m["f1"] == pytest.approx(2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3))
    assert m["positive_rate"] == pytest.approx(2 / 5)
    # roc_auc: of the 3x2 positive/negative pairs, the positive outranks the negative in 4 (0.4>0.1, 0.9>both, 0.5>0.1)
    assert m["roc_auc"] == pytest.approx(4 / 6)
    expected_log_loss = -(math.log(0.9) + math.log(0.4) + math.log(0.4) + math.log(0.9) + math.log(0.5)) / 5
    assert m["log_loss"] == pytest.approx(expected_log_loss)


def test_single_class_has_no_roc_auc_and_regression_metrics_match_hand_computation() -> None:
    # GIVEN only negatives WHEN scored THEN roc_auc is undefined (None) rather than an error
    assert measure_test_split([0, 0], np.array([[0.8, 0.2], [0.3, 0.7]]), "classification")["roc_auc"] is None
    # GIVEN regression errors of 0, 0 and 2 around a mean of 2
    m = measure_test_split([1.0, 2.0, 3.0], [1.0, 2.0, 5.0], "regression")
    # THEN mae = 2/3, rmse = sqrt(4/3), r2 = 1 - 4/2
    assert m == pytest.approx({"rmse": math.sqrt(4 / 3), "mae": 2 / 3, "r2": -1.0})


# --- fairness --------------------------------------------------------------------------------------------------


def test_fairness_gaps_on_a_hand_made_example() -> None:
    # GIVEN females predicted positive half the time (TPR 1/2), males always (TPR 1),
    # a nonbinary group with no actual positives, and one row with a missing attribute
    groups = ["female"] * 4 + ["male"] * 4 + ["nonbinary"] * 2 + [None]
    y_true = [1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1]
    y_pred = [1, 0, 1, 0, 1, 1, 1, 1, 0, 0, 1]
    # WHEN fairness is computed
    report = fairness(np.array(y_true), np.array(y_pred), pd.Series(groups))
    # THEN demographic parity spans 0 (nonbinary) to 1 (male, missing) and equal opportunity skips nonbinary
    assert report["demographic_parity_difference"] == pytest.approx(1.0)
    assert report["equal_opportunity_difference"] == pytest.approx(0.5)
    assert report["groups"] == {
        "female": {"n": 4, "positive_rate": 0.5, "tpr": 0.5, "in_gaps": True},
        "male": {"n": 4, "positive_rate": 1.0, "tpr": 1.0, "in_gaps": True},
        "nonbinary": {"n": 2, "positive_rate": 0.0, "tpr": None, "in_gaps": True},
        "(missing)": {"n": 1, "positive_rate": 1.0, "tpr": 1.0, "in_gaps": True},
    }


def test_fairness_leaves_groups_below_the_minimum_size_out_of_the_gaps() -> None:
    # GIVEN the same example with groups of fewer than 3 rows too small to count
    groups = ["female"] * 4 + ["male"] * 4 + ["nonbinary"] * 2 + [None]
    y_true = [1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1]
    y_pred = [1, 0, 1, 0, 1, 1, 1, 1, 0, 0, 1]
    report = fairness(np.array(y_true), np.array(y_pred), pd.Series(groups), min_group_size=3)
    # THEN only female (0.5) and male (1.0) set the gaps; the small groups are still reported
    assert report["demographic_parity_difference"] == pytest.approx(0.5)
    assert report["equal_opportunity_difference"] == pytest.approx(0.5)
    assert report["groups"]["nonbinary"] == {"n": 2, "positive_rate": 0.0, "tpr": None, "in_gaps": False}
    assert report["groups"]["(missing)"]["in_gaps"] is False


def test_fairness_without_positives_has_no_equal_opportunity_gap() -> None:
    report = fairness([0, 0, 0], [0, 1, 0], ["a", "b", "b"])
    assert report["demographic_parity_difference"] == pytest.approx(0.5)
    assert report["equal_opportunity_difference"] is None


# --- selection and comparison -----------------------------------------------------------------------------------


def test_select_best_maximises_and_breaks_ties_by_lowest_index() -> None:
    # GIVEN candidates listed out of order, two tied on the best roc_auc, one without a value
    results = [_result(2, roc_auc=0.85), _result(0, roc_auc=0.80), _result(1, roc_auc=0.85), _result(3, roc_auc=None)]
    # WHEN the best is selected THEN the lowest index among the tied wins
    assert select_best(results, "roc_auc")["index"] == 1


def test_select_best_minimises_lower_is_better_metrics() -> None:
    results = [_result(0, rmse=3.0), _result(1, rmse=2.5), _result(2, rmse=float("nan")), _result(3, rmse=2.5)]
    assert select_best(results, "rmse")["index"] == 1
    with pytest.raises(ValueError, match="no candidate has a log_loss value"):
        select_best(results, "log_loss")


def test_compare_respects_metric_direction() -> None:
    # GIVEN a challenger with better auc, worse log_loss, equal accuracy, and a metric only one side has
    rows = compare(
        {"roc_auc": 0.80, "log_loss": 0.40, "accuracy": 0.75, "f1": 0.5},
        {"roc_auc": 0.82, "log_loss": 0.45, "accuracy": 0.75},
        ["roc_auc", "log_loss", "accuracy", "f1"],
    )
    # THEN each row names the better side; the one-sided metric is left out
    assert [(r["metric"], r["better"]) for r in rows] == [
        ("roc_auc", "challenger"),
        ("log_loss", "champion"),
        ("accuracy", "tie"),
    ]
    assert rows[0]["delta"] == pytest.approx(0.02)


# --- gates -------------------------------------------------------------------------------------------------------

GATES = GatesSpec(
    min_metrics={"roc_auc": 0.70},
    max_metrics={"log_loss": 0.60},
    max_regression={"roc_auc": 0.02},
    max_fairness_gap={"demographic_parity_difference": 0.20},
)
FAIR = {"gender": {"demographic_parity_difference": 0.05, "equal_opportunity_difference": 0.5, "groups": {}}}


def test_gates_pass_and_list_every_check() -> None:
    # GIVEN a challenger above the floor, close to the champion, and fair
    decision = decide_gates(
        GATES, {"roc_auc": 0.79, "log_loss": 0.5}, {"version": 3, "metrics": {"roc_auc": 0.80}}, FAIR
    )
    # THEN it passes with no reasons and every gate appears as a check
    assert decision.passed and decision.reasons == []
    assert [(c["gate"], c["metric"], c["passed"]) for c in decision.checks] == [
        ("min_metrics", "roc_auc", True),
        ("max_metrics", "log_loss", True),
        ("max_regression", "roc_auc", True),
        ("max_fairness_gap", "demographic_parity_difference", True),
    ]
    assert decision.summary == "passed all 4 gates"
    assert decision.to_dict()["summary"] == "passed all 4 gates"


def test_gates_fail_with_exact_reasons() -> None:
    # GIVEN a weak, regressed, unfair challenger against champion v3
    challenger = {"roc_auc": 0.612, "log_loss": 0.7}
    champion = {"version": 3, "metrics": {"roc_auc": 0.643}}
    unfair = {"gender": {"demographic_parity_difference": 0.25, "equal_opportunity_difference": 0.1}}
    # WHEN the gates are decided
    decision = decide_gates(GATES, challenger, champion, unfair)
    # THEN each failure reads as metric, value and bound
    assert not decision.passed
    assert decision.reasons == [
        "roc_auc 0.612 < min 0.700",
        "log_loss 0.700 > max 0.600",
        "roc_auc regressed 0.031 vs champion v3 (max 0.020)",
        "gender: demographic_parity_difference 0.25 > max 0.20",
    ]
    assert decision.summary.startswith("failed 4 of 4 gates: roc_auc 0.612 < min 0.700; ")
    regression = decision.checks[2]
    assert regression["value"] == pytest.approx(0.031)
    assert (regression["champion"], regression["challenger"], regression["vs"]) == (0.643, 0.612, "v3")


def test_regression_of_lower_is_better_metric_and_boundaries() -> None:
    gates = GatesSpec(max_regression={"rmse": 0.3}, min_metrics={"r2": 0.7})
    champion = {"version": "000012", "metrics": {"rmse": 10.0}}
    # GIVEN an rmse that grew by 0.5 and an r2 just under its floor THEN both fail, with enough digits to differ
    decision = decide_gates(gates, {"rmse": 10.5, "r2": 0.6999}, champion, {})
    assert decision.reasons == ["r2 0.6999 < min 0.7000", "rmse regressed 0.500 vs champion v12 (max 0.300)"]
    # GIVEN an rmse worse by exactly the allowance (float noise included) and r2 on the floor THEN both pass
    assert decide_gates(gates, {"rmse": 10.3, "r2": 0.7}, champion, {}).passed
    # GIVEN a lower rmse THEN it is an improvement, not a regression
    assert decide_gates(gates, {"rmse": 9.0, "r2": 0.9}, champion, {}).passed


def test_first_model_skips_regression_and_missing_metrics_block() -> None:
    # GIVEN no champion WHEN decided THEN the regression gate is recorded as skipped, not failed
    decision = decide_gates(GATES, {"roc_auc": 0.9, "log_loss": 0.3}, None, FAIR)
    assert decision.passed
    assert decision.checks[2] == {
        "gate": "max_regression",
        "metric": "roc_auc",
        "value": None,
        "bound": 0.02,
        "passed": True,
        "note": "no champion to compare with",
    }
    # GIVEN a challenger without log_loss and no fairness report THEN both block the registration
    decision = decide_gates(GATES, {"roc_auc": 0.9}, None, {})
    assert decision.reasons == [
        "log_loss is missing from the challenger's metrics",
        "max_fairness_gap is set but no sensitive attribute was evaluated",
    ]


# --- importances -------------------------------------------------------------------------------------------------


def test_top_importances_rank_raw_columns_on_a_bounded_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN 2,500 test rows where the target depends on x strongly, on kind weakly, and not at all on noise/gender
    rng = np.random.default_rng(0)
    n = 2500
    X = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "noise": rng.normal(size=n),
            "kind": rng.choice(["a", "b"], n),
            "gender": rng.choice(["f", "m"], n),
        }
    )
    y = ((3 * X["x"] + 0.8 * (X["kind"] == "a") + rng.normal(scale=0.5, size=n)) > 0.4).astype(int).to_numpy()
    features = ColumnTransformer([("num", StandardScaler(), ["x", "noise"]), ("cat", OneHotEncoder(), ["kind"])])
    features.fit(X)
    pipeline = Pipeline([("features", features), ("model", LogisticRegression().fit(features.transform(X), y))])
    seen: list[tuple[int, str]] = []
    measured: list[Any] = []

    def spy(estimator: Any, X: pd.DataFrame, y: Any, **kwargs: Any) -> Any:
        seen.append((len(X), kwargs["scoring"]))
        measured.append(permutation_importance(estimator, X, y, **kwargs))
        return measured[-1]

    monkeypatch.setattr(evaluation, "permutation_importance", spy)
    # WHEN importances are computed
    top = top_importances(pipeline, X, y, "classification", seed=1, n_repeats=3, top=3)
    # THEN only 2,000 rows were permuted, scored by roc_auc
    assert seen == [(2000, "roc_auc")]
    # AND x leads, kind follows, and a column the model never sees cannot appear above them
    assert [r["feature"] for r in top[:2]] == ["x", "kind"]
    assert top[0]["importance"] > 0.2 and len(top) == 3
    # AND each row reports its own column's measured mean and spread over the repeats, x's spread small but real
    mean, std = measured[0].importances_mean, measured[0].importances_std
    for row in top:
        j = list(X.columns).index(row["feature"])
        assert (row["importance"], row["std"]) == (mean[j], std[j]), row
    assert 0 < top[0]["std"] < top[0]["importance"] / 10
    # AND it is repeatable
    assert top == top_importances(pipeline, X, y, "classification", seed=1, n_repeats=3, top=3)
