"""Per-row explanations on the inference path: one row of a 100-tree model, side by side with `shap`'s TreeExplainer.

For each algorithm (100 trees each; a linear model for scale) fitted on scikit-learn's breast cancer table (569 rows,
30 columns) behind slipway's own preprocessing, timed in interleaved blocks in one process:

  predict    the ONNX model's probabilities for one row (what a predict request runs)
  +explain   the same run with the `features` output, then `Explainer.explain` for the row (what "explain": true adds)
  explain    `Explainer.explain` alone for the row
  shap       shap.TreeExplainer(estimator).shap_values on the same row (its C++ extension, or for XGBoost XGBoost's
             own pred_contribs; the peer)

Every figure is a p50 in µs over 2,000 calls, from one run. Reproduce:

    .venv/bin/python bench/serving/bench_explain.py
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd
from sklearn.datasets import load_breast_cancer

from slipway.domain.artifacts_codec import to_onnx
from slipway.domain.explainer_export import checked_explainer, onnx_outputs
from slipway.domain.explanations import Explainer
from slipway.domain.features import model_input_columns
from slipway.domain.model_input import FeatureInput
from slipway.domain.preprocessor import build_preprocessor
from slipway.domain.training import Candidate, assemble, fit_estimator
from slipway.spec.features import FeaturesSpec

MODELS = {
    "lightgbm": ("lightgbm", {"n_estimators": 100, "num_leaves": 31, "early_stopping_round": None}),
    "xgboost": ("xgboost", {"n_estimators": 100, "max_depth": 6, "early_stopping_rounds": None}),
    "hist_gradient_boosting": (
        "hist_gradient_boosting",
        {"max_iter": 100, "max_leaf_nodes": 31, "early_stopping": False},
    ),
    "random_forest": ("random_forest", {"n_estimators": 100, "max_depth": 8}),
    "gradient_boosting": ("gradient_boosting", {"n_estimators": 100, "max_depth": 3}),
    "logistic_regression": ("logistic_regression", {}),
}
CALLS, BLOCK = 2000, 100


def _p50(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


def _timed(fn: Callable[[], Any], into: list[float]) -> None:
    for _ in range(BLOCK):
        started = time.perf_counter()
        fn()
        into.append(time.perf_counter() - started)


def main() -> None:
    data = load_breast_cancer()
    frame = pd.DataFrame(data.data.astype(np.float32), columns=[f"x{i}" for i in range(data.data.shape[1])])
    inputs = [FeatureInput(c, "numeric") for c in frame.columns]
    print(f"{'model':22s} {'trees':>5s} {'leaves':>6s} {'predict':>8s} {'+explain':>9s} {'explain':>8s} {'shap':>8s}")
    for name, (algorithm, params) in MODELS.items():
        preprocessor = build_preprocessor(inputs, FeaturesSpec()).fit(frame)
        matrix = preprocessor.transform(frame).astype(np.float32)
        estimator, _ = fit_estimator(matrix, data.target, "classification", Candidate(0, algorithm, params), 7)
        pipeline = assemble(preprocessor, estimator)
        onnx = to_onnx(pipeline, inputs)
        blob, report, _ = checked_explainer(pipeline, onnx, frame, inputs)
        assert blob is not None, report
        explainer = Explainer.from_bytes(blob)
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        session = ort.InferenceSession(onnx, sess_options=options, providers=["CPUExecutionProvider"])
        feed = model_input_columns(frame.iloc[[42]], inputs)
        features, _ = onnx_outputs(session, feed)
        chosen = np.zeros(1, dtype=np.int64) if explainer.outputs == 1 else np.ones(1, dtype=np.int64)

        def predict() -> Any:
            return session.run(["probabilities"], feed)  # noqa: B023 - called within this iteration only

        def predict_explain() -> Any:
            _, matrix = session.run(["probabilities", "features"], feed)  # noqa: B023
            return explainer.explain(np.asarray(matrix), chosen)  # noqa: B023

        def explain() -> Any:
            return explainer.explain(features, chosen)  # noqa: B023

        peer: Callable[[], Any] | None = None
        if algorithm != "logistic_regression":
            import shap

            reference = shap.TreeExplainer(estimator)
            row = features.astype(np.float32)

            def peer() -> Any:
                return reference.shap_values(row, check_additivity=False)  # noqa: B023

        times: dict[str, list[float]] = {"predict": [], "+explain": [], "explain": [], "shap": []}
        for _ in range(CALLS // BLOCK):
            _timed(predict, times["predict"])
            _timed(predict_explain, times["+explain"])
            _timed(explain, times["explain"])
            if peer is not None:
                _timed(peer, times["shap"])
        leaves = sum(len(b.feature) for b in explainer.leaves)
        trees = "-" if algorithm == "logistic_regression" else "100"
        shap_p50 = f"{_p50(times['shap']):8.0f}" if times["shap"] else f"{'-':>8s}"
        print(
            f"{name:22s} {trees:>5s} {leaves:6d} {_p50(times['predict']):8.0f} {_p50(times['+explain']):9.0f} "
            f"{_p50(times['explain']):8.0f} {shap_p50}"
        )


if __name__ == "__main__":
    main()
