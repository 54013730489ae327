"""The run's leaderboard: what each candidate would cost to serve (its ONNX export's size and prediction time,
measured the same way for every candidate) and why each candidate that was not registered lost."""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from slipway.spec.training import metric_direction

if TYPE_CHECKING:
    import pandas as pd

    from slipway.domain.model_input import FeatureInput

__all__ = ["PREDICT_REPEATS", "PREDICT_ROWS", "outcomes", "serving_cost"]

# Each candidate's ONNX model predicts one batch of PREDICT_ROWS rows (the validation split's rows, repeated when
# it has fewer) on one thread, as the infer function runs it: once to warm up, then PREDICT_REPEATS times; the
# median is recorded, in milliseconds per 1,000 rows.
PREDICT_ROWS = 1_000
PREDICT_REPEATS = 5


def serving_cost(pipeline: Any, inputs: list[FeatureInput], frame: pd.DataFrame) -> dict[str, Any]:
    """``{"onnx_bytes", "predict_ms_per_1000"}`` of the fitted pipeline's ONNX export, predicting ``frame``'s rows
    (a ``model_input_frame``; None without rows) — or ``{"onnx_error"}`` when it does not convert or run (the
    candidate still competes: a registered model without ONNX is served from its skops file)."""
    import onnxruntime as ort

    from slipway.domain.artifacts_codec import to_onnx
    from slipway.domain.features import model_input_columns

    try:
        onnx_bytes = to_onnx(pipeline, inputs)
        if len(frame) == 0:
            return {"onnx_bytes": len(onnx_bytes), "predict_ms_per_1000": None}
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(onnx_bytes, sess_options=options, providers=["CPUExecutionProvider"])
        columns = model_input_columns(frame.iloc[np.arange(PREDICT_ROWS) % len(frame)], inputs)
        feed = {i.name: columns[i.name] for i in session.get_inputs()}
        answers = [o.name for o in session.get_outputs() if o.name != "features"]  # what the served model answers
        session.run(answers, feed)
        seconds = []
        for _ in range(PREDICT_REPEATS):
            started = time.perf_counter()
            session.run(answers, feed)
            seconds.append(time.perf_counter() - started)
    except Exception as e:  # noqa: BLE001 - a converter or runtime failure is this candidate's, recorded with its reason
        return {"onnx_error": f"{type(e).__name__}: {e}"[:300]}
    return {"onnx_bytes": len(onnx_bytes), "predict_ms_per_1000": round(statistics.median(seconds) * 1000, 3)}


def outcomes(
    trained: list[dict[str, Any]],
    failed: list[dict[str, Any]],
    best_index: int,
    metric: str,
    gate: dict[str, Any],
) -> dict[int, dict[str, Any]]:
    """Per candidate index: ``{"outcome": "won"}`` for the winner that passed its gates, else ``{"outcome":
    "lost", "reason", "detail"}`` — ``score`` (its value of the selection metric beside the winner's: the folds'
    mean when every candidate was cross-validated, as the winner was chosen), ``gate`` (the winner, stopped by the
    gates: their summary), ``failed`` (it did not train: the error and the limit it met, if one). ``trained`` are
    TrainResult dicts, ``failed`` FailedCandidate dicts with the ``limit`` evaluate found for each."""
    folded = bool(trained) and all(t.get("cv") for t in trained)
    where = f"mean over {trained[0]['cv']['folds']} folds" if folded else "validation"

    def value(result: dict[str, Any]) -> float | None:
        found = (result["cv"]["mean"] if folded else result["metrics"]).get(metric)
        return float(found) if found is not None else None

    best = next(t for t in trained if t["index"] == best_index)
    out: dict[int, dict[str, Any]] = {}
    for result in trained:
        if result["index"] == best_index:
            passed = bool(gate.get("passed"))
            out[best_index] = (
                {"outcome": "won"}
                if passed
                else {"outcome": "lost", "reason": "gate", "detail": str(gate.get("summary") or "its gates failed")}
            )
            continue
        mine, theirs = value(result), value(best)
        shown = "no value" if mine is None else f"{mine:.4g}"
        better = "higher" if metric_direction(metric) == "max" else "lower"
        detail = f"{metric} ({where}) {shown} vs the winner's {theirs:.4g}; {better} is better"
        if mine is not None and theirs is not None and mine == theirs:
            detail = f"{metric} ({where}) {shown}, tied with the winner, which comes first"
        out[result["index"]] = {"outcome": "lost", "reason": "score", "detail": detail}
    for candidate in failed:
        error = str(candidate["failed"]["error"])
        limit = candidate.get("limit")
        out[candidate["index"]] = {
            "outcome": "lost",
            "reason": "failed",
            "detail": f"{error}: it met {limit}" if limit else error,
        }
    return out
