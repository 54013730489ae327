"""Missing values are filled the way the spec says, with values learnt on the training split, identically by
scikit-learn and the ONNX graph; a column whose fill is ``refuse`` makes a missing value an error."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest
from sklearn.linear_model import LogisticRegression

from slipway.domain.artifacts_codec import checked_onnx
from slipway.domain.features import FittedFeatures, fit_features, model_input_frame, model_input_from_records
from slipway.domain.training import assemble
from slipway.spec import load_spec

SPEC = """
name: fills
data:
  target: y
  columns:
    - {name: a, type: float, nullable: true}
    - {name: b, type: float, nullable: true}
    - {name: c, type: category, nullable: true}
    - {name: d, type: category, nullable: true}
    - {name: t, type: timestamp, nullable: true}
    - {name: u, type: timestamp, nullable: true}
    - {name: k, type: int}
    - {name: y, type: int, allowed: [0, 1]}
features:
  missing:
    numeric: mean
    columns:
      b: {constant: -1}
      d: most_frequent
      u: {constant: "2000-01-01"}
      k: refuse
  transforms:
    - {kind: one_hot, columns: [c]}
training:
  task: classification
  metric: roc_auc
  split: {seed: 1, valid: 0.2, test: 0.2}
  candidates: [{algorithm: logistic_regression}]
"""


def _table(n: int = 200) -> pa.Table:
    rng = np.random.default_rng(4)
    day = [datetime(2020, 1, 1, tzinfo=UTC).replace(day=1 + int(v)) for v in rng.integers(0, 28, n)]
    missing = rng.random((6, n)) < 0.2
    return pa.table(
        {
            "a": pa.array(rng.normal(10, 2, n), mask=missing[0]),
            "b": pa.array(rng.normal(0, 1, n), mask=missing[1]),
            "c": pa.array(rng.choice(["x", "y", "z"], n), mask=missing[2]),
            "d": pa.array(rng.choice(["p", "q", "q"], n), mask=missing[3]),
            "t": pa.array(day, pa.timestamp("us", tz="UTC"), mask=missing[4]),
            "u": pa.array(day, pa.timestamp("us", tz="UTC"), mask=missing[5]),
            "k": rng.integers(0, 5, n),
            "y": rng.integers(0, 2, n),
        }
    )


@pytest.fixture(scope="module")
def fitted() -> tuple[pa.Table, FittedFeatures]:
    spec = load_spec(SPEC)
    assert spec.features is not None and spec.training is not None
    table = _table()
    return table, fit_features(table, spec.data, spec.features, spec.training.split, "classification")


def test_each_column_is_filled_as_the_spec_says_with_values_learnt_on_train(
    fitted: tuple[pa.Table, FittedFeatures],
) -> None:
    # GIVEN mean for numbers, a constant for b, a "(missing)" category for c, the most frequent for d,
    # the median day for t, a constant date for u and refuse for k
    table, features = fitted
    train = table.take(features.split["train"])
    learnt = {f["column"]: (f["fill"], f["value"]) for f in features.fills}
    # THEN the learnt values are the training split's mean, mode and median, the constants as written
    a = np.asarray(train.column("a").drop_null().to_numpy())
    assert learnt["a"][0] == "mean" and learnt["a"][1] == pytest.approx(a.astype(np.float32).mean(), rel=1e-6)
    assert learnt["b"] == ("constant -1.0", -1.0)
    assert learnt["c"] == ("constant '(missing)'", "(missing)")
    assert learnt["d"] == ("most_frequent", "q")
    days = sorted(v.date() for v in train.column("t").drop_null().to_pylist())
    assert learnt["t"][0] == "median" and learnt["t"][1] in {
        days[(len(days) - 1) // 2].isoformat(),
        days[len(days) // 2].isoformat(),
    }
    assert learnt["u"] == ("constant '2000-01-01'", "2000-01-01")
    assert learnt["k"] == ("refuse", None)
    # AND the missing category becomes its own one-hot column, named after the fill
    assert "c_(missing)" in features.feature_names


def test_scikit_learn_and_onnx_fill_missing_values_alike(fitted: tuple[pa.Table, FittedFeatures]) -> None:
    # GIVEN a model on these features and rows with missing values in every fillable column
    table, features = fitted
    model = LogisticRegression(max_iter=1000).fit(features.transformed["train"], features.target["train"])
    pipeline = assemble(features.preprocessor_, model)
    frame = model_input_frame(table, features.inputs)
    # WHEN exported to ONNX and checked on all rows
    onnx_bytes, report = checked_onnx(pipeline, features.inputs, frame, "classification")
    # THEN the two agree within 1e-5
    assert onnx_bytes is not None, report
    assert report["max_diff"] <= 1e-5


def test_a_refused_column_makes_a_missing_value_an_error_at_prediction(fitted: tuple[pa.Table, FittedFeatures]) -> None:
    # GIVEN the model inputs, where k refuses missing values
    _, features = fitted
    refusing = {i.name for i in features.inputs if i.refuse_missing}
    assert refusing == {"k"}
    row = {"a": 1.0, "b": None, "c": None, "d": "p", "t": None, "u": "2020-01-01", "k": 3}
    # WHEN a row without k is converted for the model THEN the row and column are named
    with pytest.raises(ValueError, match=r"row 1: column 'k' is missing"):
        model_input_from_records([row, {**row, "k": None}], features.inputs)
    # AND the other missing values are accepted, to be filled by the model
    assert model_input_from_records([row], features.inputs)["b"].tolist() == [[pytest.approx(np.nan, nan_ok=True)]]
