"""Targets that are not 0/1, through every step on the fakes: scikit-learn's iris (three species as text) and
breast cancer with its diagnosis as text train, register with their labels in class order, and their ONNX
export answers with those labels; a spec whose metrics the data's labels cannot give stops before training."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.metrics import f1_score, precision_score, recall_score

from slipway import layout
from slipway.domain.artifacts_codec import onnx_predict
from slipway.domain.categories import label_predictions
from slipway.domain.features import encode_labels, model_input_columns, model_input_frame
from slipway.errors import SpecError
from slipway.objects import S3Object
from slipway.ports import Deps
from slipway.stores.artifacts import load_verified_model
from slipway.stores.features import feature_inputs, holdout_rows, load_manifest, load_split
from slipway.stores.registry import ModelRegistry
from slipway.stores.specs import push_spec
from tests.fakes import fake_deps
from tests.unit.steps.support import SPECS, run_pipeline


def iris_csv() -> bytes:
    data = load_iris(as_frame=True)
    frame = data.frame.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_")).drop(columns="target")
    frame["species"] = data.target_names[data.target]
    return frame.to_csv(index=False).encode()


def diagnosis_csv() -> bytes:
    data = load_breast_cancer(as_frame=True)
    frame = data.frame.iloc[:, :10].rename(columns=lambda c: c.replace(" ", "_"))
    frame["diagnosis"] = data.target_names[data.target]
    return frame.to_csv(index=False).encode()


def _registered(model: str, body: bytes) -> tuple[Deps, dict[str, object]]:
    deps = fake_deps()
    push_spec(deps, (SPECS / f"{model}.yaml").read_text())
    run = run_pipeline(deps, "run-1", f"{model}/sklearn.csv", body, until="register")
    assert run.registered is not None
    return deps, ModelRegistry.of(deps).get_version(model, run.registered.version)


@pytest.mark.parametrize(
    ("model", "body", "labels", "positive", "metric"),
    [
        ("iris", iris_csv, ["setosa", "versicolor", "virginica"], None, "f1_macro"),
        ("breast-cancer-diagnosis", diagnosis_csv, ["benign", "malignant"], "malignant", "recall"),
    ],
)
def test_a_text_labelled_target_registers_with_its_labels_and_predicts_them(
    model: str, body: object, labels: list[str], positive: str | None, metric: str
) -> None:
    # GIVEN the example spec pushed, WHEN its scikit-learn dataset runs through every step
    deps, item = _registered(model, body())  # type: ignore[operator]

    # THEN the version records the labels in class order (output j is labels[j]) and the positive label
    assert item["labels"] == labels
    assert item.get("positive_label") == positive
    assert item["onnx"]["status"] == "ok" and item["onnx"]["max_diff"] <= 1e-5
    assert item["test_metrics"][metric] >= 0.85

    # AND its ONNX model, fed raw rows, answers with those labels and a probability for each
    onnx = deps.store.get_bytes(S3Object.parse(item["artifacts"][layout.MODEL_ONNX]["uri"]))  # type: ignore[index]
    rows = [{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}]
    if model != "iris":
        rows = [dict(zip(_columns(), _first_malignant(), strict=True))]
    inputs = feature_inputs(item["inputs"])  # type: ignore[arg-type]
    predicted = label_predictions(
        onnx_predict(onnx, model_input_columns(model_input_frame(rows, inputs), inputs)), labels
    )
    assert predicted[0]["label"] == ("setosa" if model == "iris" else "malignant")
    assert set(predicted[0]["probabilities"]) == set(labels)

    # AND the model card names the labels and how missing values are filled
    card = deps.store.get_json(S3Object.parse(item["artifacts"][layout.MODEL_CARD_JSON]["uri"]))  # type: ignore[index]
    assert card["labels"] == labels and len(card["test_metrics"]["confusion_matrix"]) == len(labels)
    assert {m["column"] for m in card["missing"]} == {i.name for i in inputs}


def _columns() -> list[str]:
    return [c.replace(" ", "_") for c in load_breast_cancer().feature_names[:10]]


def _first_malignant() -> list[float]:
    data = load_breast_cancer()
    return [float(v) for v in data.data[list(data.target).index(0)][:10]]


def test_labels_known_only_from_the_data_are_checked_before_training() -> None:
    # GIVEN the iris spec without its allowed species, selecting on f1 (of one positive class)
    text = (SPECS / "iris.yaml").read_text()
    text = text.replace("      allowed: [setosa, versicolor, virginica]\n", "").replace(
        "metric: f1_macro", "metric: f1"
    )
    text = text.replace("min_metrics: {f1_macro: 0.85, roc_auc: 0.9}", "min_metrics: {roc_auc: 0.9}")
    deps = fake_deps()
    push_spec(deps, text)

    # WHEN three species arrive THEN the features step refuses the spec, naming the labels, and trains nothing
    with pytest.raises(SpecError, match="3 labels") as raised:
        run_pipeline(deps, "run-1", "iris/sklearn.csv", iris_csv(), until="features")
    assert raised.value.details["labels"] == ["setosa", "versicolor", "virginica"]
    assert deps.table.query(*layout.candidates("run-1")) == []


def test_a_positive_label_that_sorts_first_is_the_class_the_metrics_measure() -> None:
    # GIVEN the diagnosis spec with positive_label "benign", the label that sorts first (class code 0)
    text = (SPECS / "breast-cancer-diagnosis.yaml").read_text()
    text = text.replace("positive_label: malignant", "positive_label: benign").replace(", recall: 0.85", "")
    deps = fake_deps()
    push_spec(deps, text)

    # WHEN the data runs through training and evaluation
    run = run_pipeline(deps, "run-1", "breast-cancer-diagnosis/sklearn.csv", diagnosis_csv())

    # THEN every candidate's validation f1/precision/recall are benign's, as scikit-learn computes them
    fs = run.features.feature_set
    assert fs.labels == ["benign", "malignant"] and fs.positive == 0
    X_valid, y_valid = load_split(deps, fs, "valid")
    for trained in run.trained:
        model = load_verified_model(deps.store, {"uri": trained.model_uri, "sha256": trained.model_sha256})
        predicted = model[1:].predict(X_valid)  # the fitted estimator after the feature transforms
        expected = {
            "f1": f1_score(y_valid, predicted, pos_label=0),
            "precision": precision_score(y_valid, predicted, pos_label=0),
            "recall": recall_score(y_valid, predicted, pos_label=0),
        }
        assert expected["recall"] != pytest.approx(recall_score(y_valid, predicted, pos_label=1))  # a class apart
        assert {m: trained.metrics[m] for m in expected} == pytest.approx(expected)

    # AND the challenger's test metrics and predicted-positive rate are benign's too
    evaluation = run.evaluated
    challenger = load_verified_model(
        deps.store, {"uri": evaluation.best.model_uri, "sha256": evaluation.best.model_sha256}
    )
    rows = holdout_rows(deps, fs)
    truth = encode_labels(rows.column("diagnosis"), fs.labels)
    predicted = challenger.predict(model_input_frame(rows, load_manifest(deps, fs).feature_inputs()))
    metrics = evaluation.test_metrics
    assert metrics["recall"] == pytest.approx(recall_score(truth, predicted, pos_label=0))
    assert metrics["precision"] == pytest.approx(precision_score(truth, predicted, pos_label=0))
    assert metrics["recall"] == pytest.approx(metrics["per_class"]["benign"]["recall"])
    assert metrics["positive_rate"] == pytest.approx(float(np.mean(predicted == 0)))
