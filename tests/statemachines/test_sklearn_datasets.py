"""Real datasets shipped with scikit-learn through the same pipeline in the local cloud, each with its own spec
in specs/: a 0/1 classification (breast cancer), the same data with its diagnosis as text, three species as
text (iris) and a regression (diabetes). Each trains, registers with an ONNX export matching scikit-learn and
reproduces; classifiers answer with their labels. A nullable target is refused at push, and one spec takes
the CSV and the Parquet of the same data with a float-coded category."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

from slipway import layout
from slipway.domain.artifacts_codec import onnx_predict
from slipway.domain.categories import label_predictions
from slipway.domain.features import model_input_columns, model_input_frame
from slipway.errors import SpecError
from slipway.objects import S3Object
from slipway.stores.features import feature_inputs
from slipway.stores.registry import ModelRegistry
from slipway.stores.specs import push_spec
from slipway_cli import main as cli
from slipway_cli.target import Target
from slipway_local import LocalCloud
from tests.conftest import SPECS, Upload, upload_and_wait


def _breast_cancer() -> pd.DataFrame:
    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns[:-1]] + ["benign"]
    return frame


def _diagnosis() -> pd.DataFrame:
    data = load_breast_cancer(as_frame=True)
    frame = data.frame.iloc[:, :10].rename(columns=lambda c: c.replace(" ", "_"))
    frame["diagnosis"] = data.target_names[data.target]  # "malignant" / "benign"
    return frame


def _iris() -> pd.DataFrame:
    data = load_iris(as_frame=True)
    frame = data.frame.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_")).drop(columns="target")
    frame["species"] = data.target_names[data.target]
    return frame


def _diabetes() -> pd.DataFrame:
    return load_diabetes(as_frame=True, scaled=False).frame.rename(columns={"target": "progression"})


DATASETS: dict[str, Callable[[], pd.DataFrame]] = {
    "breast-cancer": _breast_cancer,
    "breast-cancer-diagnosis": _diagnosis,
    "iris": _iris,
    "diabetes": _diabetes,
}


@pytest.fixture(scope="module")
def trained(cloud: LocalCloud, dev: Target) -> Callable[[str], Upload]:
    """Push a dataset's spec and upload it as CSV, once per module; returns the finished run."""
    runs: dict[str, Upload] = {}

    def train(model: str) -> Upload:
        if model not in runs:
            push_spec(dev.deps, (SPECS / f"{model}.yaml").read_text())
            body = DATASETS[model]().to_csv(index=False).encode()
            runs[model] = upload_and_wait(cloud, "dev", f"{model}/sklearn.csv", body)
        return runs[model]

    return train


@pytest.mark.parametrize(
    ("model", "metric", "bound"),
    [
        ("breast-cancer", "roc_auc", 0.95),
        ("breast-cancer-diagnosis", "recall", 0.85),
        ("iris", "f1_macro", 0.85),
        ("diabetes", "r2", 0.3),
    ],
)
def test_a_scikit_learn_dataset_is_registered_with_onnx_parity(
    trained: Callable[[str], Upload], dev: Target, model: str, metric: str, bound: float
) -> None:
    # GIVEN the dataset's spec pushed to dev WHEN the dataset is uploaded as CSV
    run = trained(model)

    # THEN a version is registered that passed the spec's gates, with an ONNX export matching scikit-learn
    assert run.status == "SUCCEEDED", run.execution.get("cause")
    item = ModelRegistry.of(dev.deps).get_version(model, run.output["model"]["version"])
    assert item["test_metrics"][metric] >= bound
    assert item["onnx"]["status"] == "ok"
    assert item["onnx"]["max_diff"] <= 1e-5


@pytest.mark.parametrize("model", list(DATASETS))
def test_reproduce_reports_identical_or_its_tolerance_and_exits_0(
    trained: Callable[[str], Upload],
    dev: Target,
    model: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN the registered version of each dataset (a deterministic regression among them)
    version = trained(model).output["model"]["version"]
    monkeypatch.setattr(cli, "_target", lambda args: dev)  # reproduce also records what it found, as dev's operator

    # WHEN `slipway reproduce MODEL@VERSION` runs, as JSON and as the table a person reads
    code = cli.main(["reproduce", f"{model}@{version}", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert cli.main(["reproduce", f"{model}@{version}"]) == code
    shown = " ".join(capsys.readouterr().out.split())

    # THEN it reproduced (bit for bit, or within the stated tolerance), printed the tolerance, and exited 0
    assert code == 0, result
    assert result["feature_set_matches"] is True and result["status"] in ("identical", "within_tolerance")
    assert result["max_diff"] <= result["tolerance"] == 1e-9
    assert "1e-09" in shown


@pytest.mark.parametrize(
    ("model", "labels", "rows", "expected"),
    [
        (
            "iris",
            ["setosa", "versicolor", "virginica"],
            [{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}],
            ["setosa"],
        ),
        ("breast-cancer-diagnosis", ["benign", "malignant"], None, None),
    ],
)
def test_a_labelled_classifier_predicts_its_labels(
    trained: Callable[[str], Upload],
    dev: Target,
    model: str,
    labels: list[str],
    rows: list[dict[str, Any]] | None,
    expected: list[str] | None,
) -> None:
    # GIVEN the registered version of a classifier whose target is text
    item = ModelRegistry.of(dev.deps).get_version(model, trained(model).output["model"]["version"])
    assert item["labels"] == labels  # the label set, in the model's class order

    # WHEN its ONNX model scores rows as the serving path feeds them (JSON-like rows)
    if rows is None:  # the first ten test-like rows of the data, with their labels as the expected answer
        frame = _diagnosis().iloc[::57]
        rows, expected = frame.drop(columns="diagnosis").to_dict("records"), list(frame["diagnosis"])
    onnx = dev.deps.store.get_bytes(S3Object.parse(item["artifacts"][layout.MODEL_ONNX]["uri"]))
    inputs = feature_inputs(item["inputs"])
    probabilities = onnx_predict(onnx, model_input_columns(model_input_frame(rows, inputs), inputs))
    predicted = label_predictions(probabilities, item["labels"])

    # THEN the answers are the labels themselves, with a probability for each label
    assert expected is not None
    right = sum(p["label"] == e for p, e in zip(predicted, expected, strict=True))
    assert right >= 0.9 * len(expected)
    assert all(set(p["probabilities"]) == set(labels) for p in predicted)


def test_a_nullable_target_is_refused_at_push(dev: Target) -> None:
    # GIVEN the iris spec with its target declared nullable
    text = (SPECS / "iris.yaml").read_text().replace("name: iris", "name: iris-nullable", 1)
    text = text.replace(
        "      type: category\n      allowed: [setosa",
        "      type: category\n      nullable: true\n      allowed: [setosa",
    )

    # WHEN pushed THEN SpecError names the target, and nothing is stored for the model
    with pytest.raises(SpecError) as raised:
        push_spec(dev.deps, text)
    assert [e["field"] for e in raised.value.details["errors"]] == ["data.target"]
    assert dev.deps.table.get(*layout.spec_pointer_key("iris-nullable")) is None


def test_one_spec_takes_the_csv_and_the_parquet_of_a_float_coded_category(cloud: LocalCloud, dev: Target) -> None:
    # GIVEN a spec with a category coded as numbers (allowed: [1, 2, 3]) and iris with such a column,
    # which pandas writes as 1.0/2.0/3.0 to CSV and as a float column to Parquet
    text = (SPECS / "iris.yaml").read_text().replace("name: iris", "name: iris-banded", 1)
    text = text.replace(
        "    - name: species\n", "    - {name: band, type: category, allowed: [1, 2, 3]}\n    - name: species\n"
    )
    push_spec(dev.deps, text)
    frame = _iris()
    frame.insert(4, "band", np.digitize(frame["sepal_length"], [5.5, 6.5]).astype(float) + 1.0)
    parquet = io.BytesIO()
    frame.to_parquet(parquet, index=False)

    # WHEN both files are uploaded
    csv_run = upload_and_wait(cloud, "dev", "iris-banded/flowers.csv", frame.to_csv(index=False).encode())
    parquet_run = upload_and_wait(cloud, "dev", "iris-banded/flowers.parquet", parquet.getvalue())

    # THEN both meet the contract, and they are the same dataset version (the Parquet one is not trained again)
    assert csv_run.status == "SUCCEEDED", csv_run.execution.get("cause")
    assert parquet_run.status == "SUCCEEDED", parquet_run.execution.get("cause")
    assert parquet_run.output["dataset"]["dataset_version"] == csv_run.output["dataset"]["dataset_version"]
    assert parquet_run.output["dataset"]["trained_version"] == csv_run.output["model"]["version"]


@pytest.mark.parametrize(
    ("model", "metric", "bound", "refit"), [("breast-cancer", "roc_auc", 0.95, False), ("diabetes", "r2", 0.3, True)]
)
def test_a_lightgbm_model_is_registered_with_onnx_parity_and_reproduces(
    cloud: LocalCloud,
    dev: Target,
    model: str,
    metric: str,
    bound: float,
    refit: bool,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN the dataset's spec with LightGBM as its only algorithm, pushed as MODEL-lightgbm: a grid whose first
    # value LightGBM refuses (num_leaves 1: that candidate fails alone), then two it takes; diabetes's winner is
    # fitted again on train + validation before it is tested and served (training.refit)
    spec = yaml.safe_load((SPECS / f"{model}.yaml").read_text())
    spec["name"] = name = f"{model}-lightgbm"
    spec["training"]["candidates"] = [{"algorithm": "lightgbm", "grid": {"num_leaves": [1, 7, 31]}}]
    spec["training"]["refit"] = refit
    push_spec(dev.deps, yaml.safe_dump(spec, sort_keys=False))

    # WHEN the public dataset is uploaded
    run = upload_and_wait(cloud, "dev", f"{name}/sklearn.csv", DATASETS[model]().to_csv(index=False).encode())

    # THEN the two candidates LightGBM takes trained in the account, each stopped early on the validation split,
    # and the winner is registered past its gates with an ONNX export that matches LightGBM within 1e-5
    assert run.status == "SUCCEEDED", run.execution.get("cause")
    item = ModelRegistry.of(dev.deps).get_version(name, run.output["model"]["version"])
    assert item["algorithm"] == "lightgbm" and item["test_metrics"][metric] >= bound
    assert item["onnx"]["status"] == "ok" and item["onnx"]["max_diff"] <= 1e-5, item["onnx"]

    # AND the refused candidate failed alone: its record says what failed and why, and `slipway runs show` says so
    run_id = run.execution_arn.rsplit(":", 1)[-1]
    failed = dev.deps.table.get(*layout.candidate_key(run_id, 0))
    assert failed is not None and (failed["status"], failed["algorithm"]) == ("FAILED", "lightgbm")
    assert failed["error"] == "InternalError" and "num_leaves" in failed["cause"], failed
    monkeypatch.setattr(cli, "_target", lambda args: dev)  # reproduce also records what it found, as dev's operator
    capsys.readouterr()  # the run's function logs
    assert cli.main(["runs", "show", run_id, "--json"]) == 0
    shown = {c["index"]: c for c in json.loads(capsys.readouterr().out)["candidates"]}
    assert (shown[0]["status"], shown[0]["error"]) == ("FAILED", "InternalError") and "validation_metrics" in shown[1]
    assert cli.main(["runs", "show", run_id]) == 0
    assert "FAILED" in capsys.readouterr().out

    # AND with refit, the served model learnt from the training and validation rows (80 % of them), for as many
    # rounds as early stopping chose, and is not the candidate's artifact
    report_key = layout.evaluation_report(dev.outputs["ArtifactsBucketName"], run_id)
    report = json.loads(dev.deps.store.get_bytes(report_key))
    winner = next(c for c in report["candidates"] if c["index"] == report["best"]["index"])
    if refit:
        total = len(DATASETS[model]())
        assert report["refit"]["rows"] == pytest.approx(0.8 * total, abs=2)
        assert report["refit"]["params"]["n_estimators"] < 1000
        assert item["artifacts"][layout.MODEL_SKOPS]["sha256"] != winner["model_sha256"]
    else:
        assert report["refit"] is None

    # AND `slipway reproduce` refits the same trees here (the same validation split stops it at the same round)
    code = cli.main(["reproduce", f"{name}@{item['version']}", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    assert result["status"] == "identical", result


def test_an_xgboost_model_is_registered_explained_and_reproduced_beside_hist_gradient_boosting(
    cloud: LocalCloud, dev: Target, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN iris (three species as text) with XGBoost at two depths and scikit-learn's histogram boosting
    spec = yaml.safe_load((SPECS / "iris.yaml").read_text())
    spec["name"] = name = "iris-boosting"
    spec["training"]["candidates"] = [
        {"algorithm": "xgboost", "grid": {"max_depth": [2, 4]}},
        {"algorithm": "hist_gradient_boosting", "grid": {"max_leaf_nodes": [7]}},
    ]
    spec["training"]["cv"] = "none"  # the winner chosen on the validation split, which XGBoost also stops on
    push_spec(dev.deps, yaml.safe_dump(spec, sort_keys=False))

    # WHEN the public dataset is uploaded
    run = upload_and_wait(cloud, "dev", f"{name}/sklearn.csv", _iris().to_csv(index=False).encode())

    # THEN every candidate trained in the account and the winner is registered with an ONNX export matching its
    # library on every class probability, and an exact explainer checked against that export
    assert run.status == "SUCCEEDED", run.execution.get("cause")
    item = ModelRegistry.of(dev.deps).get_version(name, run.output["model"]["version"])
    assert item["onnx"]["status"] == "ok" and item["onnx"]["max_diff"] <= 1e-5, item["onnx"]
    assert item["explanations"]["status"] == "ok" and item["explanations"]["units"] == "margin", item["explanations"]

    # AND `slipway runs show --json` gives each candidate its fit time, ONNX size, prediction time per 1,000 rows and
    # why it won or lost; the table shows them
    run_id = run.execution_arn.rsplit(":", 1)[-1]
    monkeypatch.setattr(cli, "_target", lambda args: dev)  # reproduce also records what it found, as dev's operator
    capsys.readouterr()  # the run's function logs
    assert cli.main(["runs", "show", run_id, "--json"]) == 0
    shown = {c["index"]: c for c in json.loads(capsys.readouterr().out)["candidates"]}
    assert [shown[i]["algorithm"] for i in range(3)] == ["xgboost", "xgboost", "hist_gradient_boosting"]
    for candidate in shown.values():
        assert candidate["fit_seconds"] > 0 and candidate["onnx_bytes"] > 1000 and candidate["predict_ms_per_1000"] > 0
    results = sorted((c["outcome"], c.get("reason")) for c in shown.values())
    assert results == [("lost", "score"), ("lost", "score"), ("won", None)]
    assert shown[_winner(shown)]["algorithm"] == item["algorithm"]
    assert cli.main(["runs", "show", run_id]) == 0
    table = capsys.readouterr().out
    assert "predict ms / 1,000 rows" in table and "lost (score)" in table

    # AND `slipway reproduce` refits the same model here
    assert cli.main(["reproduce", f"{name}@{item['version']}", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "identical"


def _winner(candidates: dict[int, dict[str, Any]]) -> int:
    return next(i for i, c in candidates.items() if c["outcome"] == "won")


def test_a_run_whose_every_candidate_fails_registers_nothing(cloud: LocalCloud, dev: Target) -> None:
    # GIVEN a spec whose only candidate cannot train
    spec = yaml.safe_load((SPECS / "iris.yaml").read_text())
    spec["name"] = name = "iris-all-fail"
    spec["training"]["candidates"] = [{"algorithm": "lightgbm", "grid": {"num_leaves": [1]}}]
    push_spec(dev.deps, yaml.safe_dump(spec, sort_keys=False))

    # WHEN the dataset is uploaded
    run = upload_and_wait(cloud, "dev", f"{name}/sklearn.csv", _iris().to_csv(index=False).encode())

    # THEN the run fails naming NoCandidateTrained and the candidate, and the registry holds no version
    assert run.status == "FAILED"
    assert "NoCandidateTrained" in json.dumps(run.execution, default=str), run.execution.get("cause")
    assert ModelRegistry.of(dev.deps).versions(name) == []
