"""The drift check: the window of live traffic of the version in production (its captures, and the feedback
joined to them) against the reference stored when it was registered — each feature, the scores, the metric —
recorded as a table item and a report (HTML for people, JSON as data) that the version links to."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import numpy as np

from slipway import layout
from slipway.contracts.drift import DriftCheck, DriftRequest
from slipway.domain.drift import (
    dataset_drift,
    drift_verdict,
    feature_drift,
    performance_drift,
    prediction_drift,
)
from slipway.domain.drift_report import render_drift_html
from slipway.errors import NotFound
from slipway.ports import Deps
from slipway.spec.monitoring import PERFORMANCE_METRICS, MonitoringSpec
from slipway.stores.artifacts import verified_bytes
from slipway.stores.captures import read_window
from slipway.stores.registry import ModelRegistry
from slipway.stores.specs import spec_at

_BINARY = frozenset({"roc_auc", "f1", "precision", "recall"})  # bootstrapped for two classes only


def _performance_metric(monitoring: MonitoringSpec, task: str, trained_on: str, classes: int) -> str:
    chosen = monitoring.performance.metric
    if chosen is None and PERFORMANCE_METRICS.get(trained_on, ("",))[0] == task:
        chosen = trained_on
    if chosen is None or (classes > 2 and chosen in _BINARY):
        return "accuracy" if task == "classification" else "rmse"
    return chosen


def _reference(deps: Deps, item: dict[str, Any]) -> dict[str, Any]:
    recorded = item.get("artifacts", {}).get(layout.DRIFT_REFERENCE)
    if recorded is None:
        raise NotFound(
            f"{item['model']}@{item['version']} has no drift reference (registered before drift checks existed); "
            "retrain it to check its drift",
            {"model": item["model"], "version": item["version"]},
        )
    data = verified_bytes(deps.store, str(recorded["uri"]), str(recorded["sha256"]))
    reference: dict[str, Any] = json.loads(data)
    return reference


def compute_drift(deps: Deps, request: DriftRequest) -> DriftCheck:
    model, at = request.model, deps.now_iso()
    registry = ModelRegistry.of(deps)
    version = registry.alias(model, "production")
    if version is None:
        return DriftCheck(model=model, check_id=request.check_id, status="nothing_in_production", at=at)
    item = registry.get_version(model, version)
    monitoring = spec_at(deps, model, str(item["spec_version"])).monitoring_or_default
    reference = _reference(deps, item)
    window = request.window or monitoring.window
    start = (deps.clock.now() - timedelta(seconds=window)).isoformat()
    features = {name: str(p["kind"]) for name, p in reference["features"].items()}
    labels = item.get("labels")
    current = read_window(deps, model, version, start, at, features, labels)

    found = feature_drift(reference["features"], current.numeric, current.categorical, monitoring)
    dataset = dataset_drift(found, monitoring.drift_share)
    prediction = (
        prediction_drift(reference["scores"], current.scores, monitoring) if monitoring.prediction_drift else None
    )
    task = str(item["task"])
    metric = _performance_metric(monitoring, task, str(item.get("metric", "")), len(labels or []))
    truth, predicted, score = current.truth, current.predicted, current.positive_score
    positive = item.get("positive_label")
    if labels is not None and len(labels) == 2 and positive is not None and labels.index(positive) == 0:
        truth, predicted, score = 1 - truth, 1 - predicted, 1 - score  # the metric's positive class is code 1
    registered = reference.get("test_metrics", {}).get(metric)
    performance = performance_drift(metric, truth, predicted, score, current.p_true, registered, monitoring.performance)

    drifted, reason = drift_verdict(dataset, prediction, performance)
    policy = monitoring.retraining.policy

    result: dict[str, Any] = {
        "model": model,
        "version": version,
        "env": deps.settings.env,
        "check_id": request.check_id,
        "at": at,
        "window": {"start": start, "end": at, "seconds": window},
        "dataset_version": reference.get("dataset_version"),
        "rows": current.rows,
        "labelled": int(current.truth.size),
        "drifted": drifted,
        "reason": reason,
        "dataset": {
            "verdict": dataset.verdict,
            "judged": dataset.judged,
            "drifted": dataset.drifted,
            "share": dataset.share,
            "threshold": dataset.threshold,
            "insufficient": dataset.insufficient,
        },
        "features": [f.to_dict() for f in found],
        "prediction": prediction.to_dict() if prediction else None,
        "performance": performance.to_dict(),
        "monitoring": monitoring.model_dump(mode="json"),
    }
    lake = deps.settings.lake_bucket
    report, data = (
        layout.drift_report(lake, model, request.check_id),
        layout.drift_result(lake, model, request.check_id),
    )
    deps.store.put_bytes(report, render_drift_html(result).encode(), "text/html; charset=utf-8")
    deps.store.put_json(data, _numbers(result))
    check = DriftCheck(
        model=model,
        check_id=request.check_id,
        status="checked",
        version=version,
        at=at,
        drifted=drifted,
        reason=reason,
        rows=current.rows,
        labelled=int(current.truth.size),
        dataset=dataset.verdict,
        prediction=prediction.verdict if prediction else None,
        performance=performance.verdict,
        drifted_features=dataset.drifted,
        report_uri=report.uri,
        result_uri=data.uri,
        dataset_version=reference.get("dataset_version"),
        policy=policy,
        cooldown=monitoring.retraining.cooldown,
        retrain=drifted and policy != "none",
    )
    summary = {
        **check.model_dump(mode="json"),
        "window": result["window"],
        "features": [f.summary() for f in found],
        "prediction_statistic": prediction.statistic if prediction else None,
        "performance_detail": performance.to_dict(),
    }
    deps.table.put(layout.item(layout.drift_check_key(model, at, request.check_id), **summary))
    deps.table.update(
        *layout.version_key(model, version),
        {
            "drift_report_uri": check.report_uri,
            "drift_checked_at": at,
            "drift_verdict": "drift" if drifted else "no_drift",
        },
    )
    return check


def _numbers(value: Any) -> Any:
    """Strict JSON for the report: NaN and infinities (a statistic without enough data) become None. (What the
    table cannot store, the metadata adapter turns into what it can, for every item.)"""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    return value
