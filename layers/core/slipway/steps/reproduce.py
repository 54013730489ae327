"""Reproduce a model version from its recorded lineage: the same curated bytes (checked by their
hash), spec version, split, seed and winning candidate are fitted again and measured on the same
test rows; the metrics must be identical."""

from __future__ import annotations

import io
import json
import math
from typing import Any

import pyarrow.parquet as pq

from slipway import layout
from slipway.artifact_io import verified_bytes
from slipway.domain.evaluation import holdout_metrics
from slipway.domain.features import feature_set_id, fit_features, model_input_frame
from slipway.domain.training import Candidate, assemble, fit_estimator, predict_scores
from slipway.errors import NotFound
from slipway.ports import Deps
from slipway.specstore import training_spec


def reproduce(deps: Deps, version_item: dict[str, Any]) -> dict[str, Any]:
    model = version_item["model"]
    spec = training_spec(deps, model, version_item["spec_version"])
    assert spec.features is not None and spec.training is not None
    dataset = deps.table.get(*layout.dataset_key(model, version_item["dataset_version"]))
    if dataset is None:
        raise NotFound(f"dataset version {version_item['dataset_version'][:12]} of {model} is not recorded")
    # The curated bytes must still be the dataset version (its SHA-256) the model was trained on.
    curated = verified_bytes(deps.store, dataset["curated_uri"], version_item["dataset_version"])
    table = pq.read_table(io.BytesIO(curated))
    fitted = fit_features(table, spec.data, spec.features, spec.training.split)
    fs_id = feature_set_id(version_item["dataset_version"], spec.features, spec.training.split, fitted.inputs)
    candidate = Candidate(-1, version_item["algorithm"], json.loads(version_item["params_json"]))
    estimator, _ = fit_estimator(
        fitted.transformed["train"], fitted.target["train"], spec.training.task, candidate, int(version_item["seed"])
    )
    pipeline = assemble(fitted.preprocessor_, estimator)
    test = table.take(fitted.split["test"])
    scores = predict_scores(pipeline, model_input_frame(test, fitted.inputs), spec.training.task)
    reproduced = holdout_metrics(
        test.column(spec.data.target).to_numpy(zero_copy_only=False), scores, spec.training.task
    )

    rows = []
    for metric, recorded in version_item["test_metrics"].items():
        again = reproduced.get(metric)
        if isinstance(recorded, (int, float)) and isinstance(again, (int, float)):
            rows.append(
                {
                    "metric": metric,
                    "recorded": recorded,
                    "reproduced": again,
                    "abs_diff": abs(float(again) - float(recorded)),
                }
            )
    identical = fs_id == version_item["feature_set"] and all(
        r["recorded"] == r["reproduced"] or (math.isnan(r["recorded"]) and math.isnan(r["reproduced"])) for r in rows
    )
    return {
        "model": model,
        "version": int(version_item["version"]),
        "identical": identical,
        "feature_set_matches": fs_id == version_item["feature_set"],
        "metrics": rows,
    }
