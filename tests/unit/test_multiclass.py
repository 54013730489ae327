"""Classification beyond 0/1: three string labels (scikit-learn's iris), labels of any type kept with the model,
metrics, fairness and the split for several classes, and ONNX probabilities mapped back to the labels."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, roc_auc_score

from slipway.domain.artifacts_codec import checked_onnx, onnx_predict
from slipway.domain.categories import label_predictions
from slipway.domain.evaluation import fairness, holdout_metrics
from slipway.domain.features import class_labels, encode_labels, fit_features, model_input_columns, model_input_frame
from slipway.domain.training import assemble
from slipway.spec import load_spec

IRIS_SPEC = """
name: iris
data:
  target: species
  columns:
    - {name: sepal_length, type: float}
    - {name: sepal_width, type: float}
    - {name: petal_length, type: float}
    - {name: petal_width, type: float}
    - {name: species, type: category, allowed: [setosa, versicolor, virginica]}
features:
  transforms: [{kind: standardize, columns: [sepal_length, sepal_width, petal_length, petal_width]}]
training:
  task: classification
  metric: f1_macro
  split: {seed: 3, valid: 0.2, test: 0.3}
  candidates: [{algorithm: logistic_regression}]
"""


def _iris() -> pa.Table:
    data = load_iris(as_frame=True)
    frame = data.frame.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    frame["species"] = data.target_names[data.target]
    return pa.Table.from_pandas(frame.drop(columns="target"), preserve_index=False)


def test_three_class_metrics_match_scikit_learn_and_a_hand_count() -> None:
    # GIVEN 6 rows of three classes and probabilities whose argmax is [0, 1, 1, 1, 2, 0]
    y = np.array([0, 0, 1, 1, 2, 2])
    proba = np.array(
        [[0.7, 0.2, 0.1], [0.3, 0.6, 0.1], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.1, 0.2, 0.7], [0.5, 0.2, 0.3]]
    )
    # WHEN measured on the test split with labels named
    m = holdout_metrics(y, proba, "classification", ["Adelie", "Chinstrap", "Gentoo"], positive=1)
    # THEN accuracy, macro/weighted f1 and one-vs-rest roc_auc are scikit-learn's, per label and in a 3x3 matrix
    predicted = proba.argmax(axis=1)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["f1_macro"] == pytest.approx(f1_score(y, predicted, average="macro"))
    assert m["f1_weighted"] == pytest.approx(f1_score(y, predicted, average="weighted"))
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, proba, multi_class="ovr", average="macro"))
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert m["per_class"]["Chinstrap"] == {"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2}
    # AND the binary-only metrics are absent, not wrong
    assert not {"f1", "precision", "recall", "positive_rate"} & set(m)


def test_multiclass_fairness_takes_the_widest_gap_over_the_classes() -> None:
    # GIVEN group a always predicted class 0 and group b always class 2, all truly class 0
    y = np.zeros(8, dtype=int)
    predicted = np.array([0, 0, 0, 0, 2, 2, 2, 2])
    groups = np.array(["a"] * 4 + ["b"] * 4, dtype=object)
    # WHEN fairness is measured without a positive class
    report = fairness(y, predicted, groups, positive=None, labels=["x", "y", "z"])
    # THEN class 0 is predicted 100% vs 0% (gap 1) and found 100% vs 0% (gap 1), per class in by_class
    assert report["demographic_parity_difference"] == 1.0
    assert report["equal_opportunity_difference"] == 1.0
    assert report["by_class"]["y"]["demographic_parity_difference"] == 0.0
    assert report["groups"] == {"a": {"n": 4, "in_gaps": True}, "b": {"n": 4, "in_gaps": True}}


def test_labels_of_any_type_are_sorted_and_coded_as_scikit_learn_orders_classes() -> None:
    # GIVEN string, bool and int targets WHEN their labels are read and coded
    assert class_labels(np.array(["male", "female", "male"], dtype=object)) == ["female", "male"]
    assert class_labels(np.array([True, False])) == [False, True]
    assert class_labels(np.array([3, 1, 2])) == [1, 2, 3]
    # THEN codes are places in that order, and a value that is no label is -1
    assert encode_labels(pa.chunked_array([["male", "female", "other"]]), ["female", "male"]).tolist() == [1, 0, -1]
    # AND a missing target is refused
    with pytest.raises(ValueError, match="missing"):
        class_labels(np.array(["a", None], dtype=object))


def test_iris_trains_on_codes_keeps_every_class_in_each_split_and_exports_onnx_giving_labels() -> None:
    # GIVEN iris with its species as text
    spec = load_spec(IRIS_SPEC)
    assert spec.features is not None and spec.training is not None
    table = _iris()
    # WHEN its features are fitted for classification
    fitted = fit_features(table, spec.data, spec.features, spec.training.split, "classification")
    # THEN the labels are the species in sorted order, and every split holds each class in proportion (50 each)
    assert fitted.labels == ["setosa", "versicolor", "virginica"]
    for name, share in (("train", 0.5), ("valid", 0.2), ("test", 0.3)):
        assert np.bincount(fitted.target[name]).tolist() == [round(50 * share)] * 3, name
    # WHEN a model is fitted on the codes and exported
    pipeline = assemble(
        fitted.preprocessor_, LogisticRegression(max_iter=1000).fit(fitted.transformed["train"], fitted.target["train"])
    )
    test = model_input_frame(table.take(fitted.split["test"]), fitted.inputs)
    onnx_bytes, report = checked_onnx(pipeline, fitted.inputs, test, "classification")
    # THEN ONNX gives the three probabilities of scikit-learn within 1e-5
    assert onnx_bytes is not None and report["status"] == "ok" and report["max_diff"] <= 1e-5
    # AND mapped through the labels, its predictions are species names with a probability for each
    probabilities = onnx_predict(onnx_bytes, model_input_columns(test, fitted.inputs))
    predictions = label_predictions(probabilities, fitted.labels)
    truth = table.take(fitted.split["test"]).column("species").to_pylist()
    assert {p["label"] for p in predictions} <= {"setosa", "versicolor", "virginica"}
    assert sum(p["label"] == t for p, t in zip(predictions, truth, strict=True)) >= 0.9 * len(truth)
    assert set(predictions[0]["probabilities"]) == {"setosa", "versicolor", "virginica"}
    assert sum(predictions[0]["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)


def test_label_predictions_key_bools_and_ints_as_json_text() -> None:
    # GIVEN a bool-labelled model's probabilities WHEN mapped THEN the label keeps its type, keys are JSON text
    assert label_predictions([[0.25, 0.75]], [False, True]) == [
        {"label": True, "probabilities": {"false": 0.25, "true": 0.75}}
    ]
    # AND a tie goes to the first label, as scikit-learn's predict does
    assert label_predictions([[0.5, 0.5]], [0, 1])[0]["label"] == 0
