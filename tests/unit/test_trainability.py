"""Trainability checks: a table that no model can learn from is named before any training — one class,
a class too rare for the split, a target without variance, too few rows — for any label type."""

from __future__ import annotations

import pyarrow as pa
import pytest

from slipway.domain.trainability import SplitShape, trainability_failures

SPLIT = SplitShape(valid=0.2, test=0.2)


def _checks(values: list[object], task: str, split: SplitShape = SPLIT, **kwargs: bool) -> dict[str, str]:
    found = trainability_failures("y", pa.chunked_array([pa.array(values)]), task, split, **kwargs)
    return {f.check: f.message for f in found}


@pytest.mark.parametrize(
    "labels",
    [[0] * 50, ["churned"] * 50, [True] * 50, [0] * 50 + [None] * 3],
    ids=["ints", "text", "bools", "with missing targets"],
)
def test_a_single_class_cannot_train_a_classifier(labels: list[object]) -> None:
    checks = _checks(labels, "classification")
    assert set(checks) == {"target_classes"}
    assert "1 class" in checks["target_classes"] and "at least 2" in checks["target_classes"]


@pytest.mark.parametrize(
    ("common", "rare"),
    [(["setosa", "versicolor"], "virginica"), ([0, 1], 2), ([False], True)],
    ids=["text labels", "int labels", "bool labels"],
)
def test_a_class_with_fewer_rows_than_the_split_has_parts_is_named(common: list[object], rare: object) -> None:
    # GIVEN plenty of rows of each common class and two rows of a rare one: the split has three parts
    values = [label for label in common for _ in range(30)] + [rare, rare]

    # WHEN the table is checked
    found = trainability_failures("y", pa.chunked_array([pa.array(values)]), "classification", SPLIT)

    # THEN one finding names the rare class, its count and what the split needs, with its row numbers
    (failure,) = found
    assert failure.check == "class_rows" and failure.count == 2
    assert repr(rare) in failure.message and "(2)" in failure.message and "fewer than 3 rows" in failure.message
    assert failure.examples == [len(values) - 2, len(values) - 1]


def test_three_rows_of_each_class_are_enough_for_a_three_part_split() -> None:
    assert _checks(["a"] * 3 + ["b"] * 3 + ["c"] * 40, "classification") == {}


def test_without_a_validation_part_two_rows_per_class_are_enough() -> None:
    split = SplitShape(valid=0.0, test=0.25)
    assert _checks(["a"] * 2 + ["b"] * 30, "classification", split) == {}
    assert set(_checks(["a"] + ["b"] * 30, "classification", split)) == {"class_rows"}


@pytest.mark.parametrize("values", [[42.0] * 30, [7] * 30], ids=["float", "int"])
def test_a_regression_target_without_variance_cannot_train(values: list[object]) -> None:
    checks = _checks(values, "regression")
    assert set(checks) == {"target_variance"}
    assert "in every one of 30 rows" in checks["target_variance"]


def test_a_varying_regression_target_trains() -> None:
    assert _checks([1.0, 2.0, 3.5] * 10, "regression") == {}


@pytest.mark.parametrize(("rows", "fits"), [(1, False), (2, False), (3, False), (4, True), (40, True)])
def test_too_few_rows_for_the_split(rows: int, fits: bool) -> None:
    # valid 0.2 and test 0.2 of 4 rows round to one row each, leaving train two: the fewest that fit
    checks = _checks([float(i) for i in range(rows)], "regression")
    assert ("split_rows" not in checks) is fits
    if not fits:
        assert "at least 4 rows are needed" in checks["split_rows"]
    assert SPLIT.min_rows() == 4


def test_target_values_of_a_pii_column_stay_out_of_messages() -> None:
    secret = "alice@example.com"
    found = trainability_failures(
        "y", pa.chunked_array([pa.array([secret] * 10)]), "classification", SPLIT, show_values=False
    )
    assert found and all(secret not in f.message for f in found)
    assert "<masked>" in found[0].message
