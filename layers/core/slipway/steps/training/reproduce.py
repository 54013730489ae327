"""Reproduce a model version from its recorded lineage: the same curated bytes (checked by their hash), spec
version, split, seed and winning candidate are fitted again, through the same path as at registration (the
training matrix read through the feature store's format, the assembled pipeline scored on the raw test rows),
and measured on the same test rows. Bit-for-bit equal metrics are "identical"; differences within
``TOLERANCE`` (floating-point summation order, e.g. another BLAS thread count) are reported with it."""

from __future__ import annotations

import io
import json
import math
from typing import Any

import pyarrow.parquet as pq

from slipway import layout
from slipway.domain.evaluation import holdout_metrics
from slipway.domain.features import encode_labels, feature_set_id, fit_features, model_input_frame
from slipway.domain.training import (
    Candidate,
    assemble,
    decision_threshold,
    fit_estimator,
    positive_code,
    predict_scores,
    refit_candidate,
    refit_estimator,
)
from slipway.errors import NotFound
from slipway.ports import Deps
from slipway.stores.artifacts import verified_bytes
from slipway.stores.features import split_arrays, split_table
from slipway.stores.specs import training_spec

# Largest difference accepted where bit-for-bit equality is not promised: relative to max(1, |recorded|).
TOLERANCE = 1e-9


def _difference(recorded: Any, again: Any) -> float | None:
    """|again - recorded| relative to max(1, |recorded|); 0 for two missing values, None when only one is."""
    numbers = [isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (recorded, again)]
    if not any(numbers):
        return 0.0
    if not all(numbers):
        return None
    return abs(float(again) - float(recorded)) / max(1.0, abs(float(recorded)))


def reproduce(deps: Deps, version_item: dict[str, Any]) -> dict[str, Any]:
    model = version_item["model"]
    spec = training_spec(deps, model, version_item["spec_version"])
    assert spec.features is not None and spec.training is not None
    task = spec.training.task
    dataset = deps.table.get(*layout.dataset_key(model, version_item["dataset_version"]))
    if dataset is None:
        raise NotFound(f"dataset version {version_item['dataset_version'][:12]} of {model} is not recorded")
    # The curated bytes must still be the dataset version (its SHA-256) the model was trained on.
    curated = verified_bytes(deps.store, dataset["curated_uri"], version_item["dataset_version"])
    table = pq.read_table(io.BytesIO(curated))
    fitted = fit_features(table, spec.data, spec.features, spec.training.split, task)
    fs_id = feature_set_id(version_item["dataset_version"], spec.features, spec.training.split, fitted.inputs)
    candidate = Candidate(-1, version_item["algorithm"], json.loads(version_item["params_json"]))
    X_train, y_train = split_arrays(split_table(fitted, "train"))  # as the train step reads the feature store
    validation = split_arrays(split_table(fitted, "valid"))  # where an early-stopping estimator watched its loss
    seed = int(version_item["seed"])
    estimator, _ = fit_estimator(X_train, y_train, task, candidate, seed, validation)
    positive = positive_code(fitted.labels, version_item.get("positive_label"))
    binary = len(fitted.labels or ()) == 2
    wanted = spec.training.threshold if binary else None
    threshold = decision_threshold(wanted, estimator, lambda: validation, positive, spec.training.metric)["threshold"]
    # then fitted on train + valid, as the evaluate step did: the version records it (before it did, the spec said)
    if version_item.get("refit", spec.training.refit):
        winner = refit_candidate(candidate, estimator)
        estimator, _ = refit_estimator((X_train, y_train), validation, task, winner, seed)
    pipeline = assemble(fitted.preprocessor_, estimator)
    test = table.take(fitted.split["test"])
    scores = predict_scores(pipeline, model_input_frame(test, fitted.inputs), task)
    target = test.column(spec.data.target)
    truth = encode_labels(target, fitted.labels) if fitted.labels is not None else target.to_numpy()
    reproduced = holdout_metrics(truth, scores, task, fitted.labels, positive, threshold)

    rows: list[dict[str, Any]] = []
    if spec.training.threshold == "tune":  # tuned again on the validation split, as the evaluate step did
        recorded_threshold = version_item.get("threshold")
        recorded = float(recorded_threshold) if recorded_threshold is not None else None
        rows.append({"metric": "threshold", "recorded": recorded, "reproduced": threshold,
                     "diff": _difference(recorded, threshold)})  # fmt: skip
    for metric, recorded in version_item["test_metrics"].items():
        again = reproduced.get(metric)
        rows.append({"metric": metric, "recorded": recorded, "reproduced": again, "diff": _difference(recorded, again)})
    feature_set_matches = fs_id == version_item["feature_set"]
    identical = feature_set_matches and all(r["recorded"] == r["reproduced"] or r["diff"] == 0.0 for r in rows)
    diffs = [r["diff"] for r in rows]
    max_diff = None if any(d is None for d in diffs) else max(diffs, default=0.0)
    within = feature_set_matches and max_diff is not None and max_diff <= TOLERANCE
    return {
        "model": model,
        "version": int(version_item["version"]),
        "status": "identical" if identical else ("within_tolerance" if within else "different"),
        "identical": identical,
        "reproduced": identical or within,
        "tolerance": TOLERANCE,
        "max_diff": max_diff,
        "feature_set_matches": feature_set_matches,
        "metrics": rows,
    }
