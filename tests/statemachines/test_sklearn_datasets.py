"""Real datasets shipped with scikit-learn through the same pipeline: a classification (breast
cancer) and a regression (diabetes), each with its own spec in specs/."""

from __future__ import annotations

from typing import Any

import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes

from slipway.registry import ModelRegistry
from slipway.specstore import push_spec
from slipway_cli.target import Target
from slipway_local import LocalCloud
from tests.conftest import SPECS, upload_and_wait


def _breast_cancer_csv() -> bytes:
    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns[:-1]] + ["benign"]
    return frame.to_csv(index=False).encode()


def _diabetes_csv() -> bytes:
    frame = load_diabetes(as_frame=True, scaled=False).frame.rename(columns={"target": "progression"})
    return frame.to_csv(index=False).encode()


@pytest.mark.parametrize(
    ("model", "body", "metric", "bound"),
    [
        ("breast-cancer", _breast_cancer_csv, "roc_auc", 0.95),
        ("diabetes", _diabetes_csv, "r2", 0.3),
    ],
)
def test_a_scikit_learn_dataset_is_registered_with_onnx_parity(
    cloud: LocalCloud, dev: Target, model: str, body: Any, metric: str, bound: float
) -> None:
    # GIVEN the dataset's spec pushed to dev
    push_spec(dev.deps, (SPECS / f"{model}.yaml").read_text())

    # WHEN the dataset is uploaded as CSV
    run = upload_and_wait(cloud, "dev", f"{model}/sklearn.csv", body())

    # THEN a version is registered that passed the spec's gates, with an ONNX export matching scikit-learn
    assert run.status == "SUCCEEDED", run.execution.get("cause")
    item = ModelRegistry.of(dev.deps).get_version(model, run.output["model"]["version"])
    assert item["test_metrics"][metric] >= bound
    assert item["onnx"]["status"] == "ok"
    assert item["onnx"]["max_diff"] <= 1e-5
