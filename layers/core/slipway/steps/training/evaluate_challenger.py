"""The evaluate step: the best candidate on validation becomes the challenger; it is measured on
the test split (metrics, fairness, importances) beside the current champion on the same rows, and
the spec's gates decide; each candidate's record says why it won or lost. Writes only run-level records: the
registry is untouched."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
from sklearn.pipeline import Pipeline

from slipway import layout
from slipway.contracts.training import (
    EvaluateRequest,
    EvaluateResult,
    FailedCandidate,
    FeatureSetRef,
    GateResult,
    TrainResult,
)
from slipway.domain.artifacts_codec import dump_model
from slipway.domain.decision import decide
from slipway.domain.digest import sha256_hex
from slipway.domain.evaluation import (
    compare,
    decide_gates,
    fairness,
    holdout_metrics,
    scalar_metrics,
    select_best,
    top_importances,
)
from slipway.domain.features import encode_labels, model_input_frame
from slipway.domain.leaderboard import outcomes
from slipway.domain.training import (
    Candidate,
    assemble,
    decision_threshold,
    positive_code,
    predict_scores,
    refit_candidate,
    refit_estimator,
)
from slipway.errors import NoCandidateTrained
from slipway.ports import Deps
from slipway.spec import ModelSpec
from slipway.stores.artifacts import load_verified_model, put_unless_identical
from slipway.stores.features import feature_inputs, holdout_rows, load_manifest, load_preprocessor, load_split
from slipway.stores.registry import ModelRegistry
from slipway.stores.runs import record_candidate, update_run
from slipway.stores.specs import training_spec


def evaluate_challenger(deps: Deps, request: EvaluateRequest) -> EvaluateResult:
    fs = request.feature_set
    spec = training_spec(deps, fs.model, fs.spec_version)
    trained = [t for t in request.trained if isinstance(t, TrainResult)]
    failed = [t for t in request.trained if isinstance(t, FailedCandidate)]
    _record_failures(deps, request.run_id, fs, failed)
    if not trained:
        raise NoCandidateTrained(
            f"all {len(failed)} candidates failed to train",
            {
                "failed": [
                    {
                        "index": f.index,
                        "algorithm": f.algorithm,
                        "error": f.failed.error,
                        "limit": _limit(deps, f.failed.error),
                    }
                    for f in failed
                ]
            },
        )
    results = [t.model_dump() for t in trained]
    best = TrainResult.model_validate(select_best(results, fs.metric))
    challenger = load_verified_model(deps.store, {"uri": best.model_uri, "sha256": best.model_sha256})
    positive = positive_code(fs.labels, fs.positive_label)
    threshold, decision = _decision(deps, spec, fs, challenger, positive)  # on the winner as selected, before a refit
    refit = None
    if spec.training is not None and spec.training.refit:
        challenger, best, refit = _refit(deps, request.run_id, fs, best, challenger)

    inputs = load_manifest(deps, fs).feature_inputs()
    rows = holdout_rows(deps, fs)
    X_test = model_input_frame(rows, inputs)
    y_test = _truth(rows.column(spec.data.target), fs.labels)
    scores = predict_scores(challenger, X_test, fs.task)
    metrics = holdout_metrics(y_test, scores, fs.task, fs.labels, positive, threshold)
    fairness_by_attr = _fairness(spec, fs, rows, y_test, scores, threshold)
    importances = top_importances(challenger, X_test, y_test, fs.task, fs.seed)
    champion = _champion(deps, spec, fs, rows)

    gate = decide_gates(spec.gates, metrics, champion, fairness_by_attr)
    board = _leaderboard(deps, request.run_id, results, failed, best.index, fs.metric, gate.to_dict())
    report = {
        "run_id": request.run_id,
        "model": fs.model,
        "task": fs.task,
        "metric": fs.metric,
        "labels": fs.labels,
        "positive_label": fs.labels[fs.positive] if fs.labels is not None and fs.positive is not None else None,
        "best": best.model_dump(),
        "candidates": [{**r, **board[r["index"]]} for r in results],
        "failed_candidates": [{**f.model_dump(), **board[f.index]} for f in failed],
        "test_metrics": metrics,
        "validation_metrics": best.metrics,
        "refit": refit,
        "decision": decision,
        "fairness": fairness_by_attr,
        "importances": importances,
        "champion": champion,
        "comparison": compare(champion["metrics"], metrics, _compared(metrics)) if champion else [],
        "gate": gate.to_dict(),
        "rows": fs.rows,
    }
    body = json.dumps(report, indent=2, sort_keys=True, default=str).encode()
    ref = put_unless_identical(
        deps.store, layout.evaluation_report(deps.settings.artifacts_bucket, request.run_id), body, "application/json"
    )
    update_run(
        deps,
        request.run_id,
        best_candidate=best.index,
        test_metrics=scalar_metrics(metrics),
        gate_passed=gate.passed,
        gate_summary=gate.summary,
        evaluation_uri=ref.uri,
        champion_version=champion["version"] if champion else None,
    )
    return EvaluateResult(
        best=best,
        test_metrics=metrics,
        gate=GateResult(passed=gate.passed, summary=gate.summary, reasons=gate.reasons),
        champion=champion,
        report_uri=ref.uri,
        threshold=threshold,
        refitted=refit is not None,
    )


def _leaderboard(
    deps: Deps,
    run_id: str,
    results: list[dict[str, Any]],
    failed: list[FailedCandidate],
    best: int,
    metric: str,
    gate: dict[str, Any],
) -> dict[int, dict[str, Any]]:
    """Why each candidate won or lost (``slipway.domain.leaderboard.outcomes``), written onto its record too."""
    lost = [{**f.model_dump(), "limit": _limit(deps, f.failed.error)} for f in failed]
    board = outcomes(results, lost, best, metric, gate)
    for index, outcome in board.items():
        deps.table.update(*layout.candidate_key(run_id, index), {"reason": None, "detail": None, **outcome})
    return board


def _record_failures(deps: Deps, run_id: str, fs: FeatureSetRef, failed: list[FailedCandidate]) -> None:
    """Each failed candidate's record says what it was and why it failed (the Lambda error and the first of its
    cause: Runtime.OutOfMemory, Sandbox.Timedout, a refused parameter), beside the candidates that trained."""
    for f in failed:
        record_candidate(
            deps,
            run_id,
            f.index,
            algorithm=f.algorithm,
            params=f.params,
            params_json=json.dumps(f.params, sort_keys=True),
            status="FAILED",
            error=f.failed.error,
            limit=_limit(deps, f.failed.error),
            cause=_cause(f.failed.cause),
            feature_set=fs.id,
            spec_version=fs.spec_version,
            failed_at=deps.now_iso(),
        )


def _limit(deps: Deps, error: str) -> str | None:
    """The limit a candidate's failure met, in words: the train function's memory or its timeout; None for a
    failure that is not a limit (a parameter the library refused, a crash)."""
    memory, seconds = deps.settings.train_memory_mb, deps.settings.train_timeout_s
    if error == "Runtime.OutOfMemory":
        return f"{memory} MB of memory" if memory else "the train function's memory"
    if error in ("Sandbox.Timedout", "States.Timeout"):
        return f"{seconds} s of time" if seconds else "the train function's timeout"
    return None


def _cause(cause: str | None) -> str | None:
    """The cause's message (a Lambda error's JSON carries a stack trace too), at most 1,000 characters."""
    if cause is None:
        return None
    try:
        message = str(json.loads(cause).get("errorMessage", cause))
    except (ValueError, AttributeError):
        message = cause
    return message[:1000]


def _refit(
    deps: Deps, run_id: str, fs: FeatureSetRef, best: TrainResult, fitted: Any
) -> tuple[Any, TrainResult, dict[str, Any]]:
    """``training.refit``: the winner fitted again on the training and validation rows, behind the same feature
    transforms, stored beside its candidate artifact; the challenger from here on (test metrics, registration)."""
    again = refit_candidate(Candidate(best.index, best.algorithm, dict(best.params)), fitted.steps[-1][1])
    train, valid = load_split(deps, fs, "train"), load_split(deps, fs, "valid")
    refitted, seconds = refit_estimator(train, valid, fs.task, again, fs.seed)
    pipeline = assemble(load_preprocessor(deps, fs), refitted)
    body = dump_model(pipeline)
    sha = sha256_hex(body)
    target = layout.candidate_artifact(deps.settings.artifacts_bucket, run_id, best.index, sha)
    written = put_unless_identical(deps.store, target, body, "application/octet-stream")  # a retry writes none
    # the fit's seconds go on the run item: in the report they would make a retried step's report differ (a second
    # version of it) where nothing else did
    update_run(deps, run_id, refit_seconds=round(seconds, 4))
    details = {"rows": int(len(train[1]) + len(valid[1])), "params": again.params}
    return pipeline, best.model_copy(update={"model_uri": written.uri, "model_sha256": sha}), details


def _compared(metrics: dict[str, Any]) -> list[str]:
    """The single-number metrics set side by side with the champion's, in the order the task lists them."""
    return [m for m in scalar_metrics(metrics) if m != "positive_rate"]


def _truth(column: Any, labels: list[Any] | None) -> np.ndarray:
    """Test targets as the model sees them: label codes for classification, values for regression."""
    if labels is not None:
        return encode_labels(column, labels)
    return np.asarray(column.to_numpy(zero_copy_only=False))


def _fairness(
    spec: ModelSpec, fs: FeatureSetRef, rows: pa.Table, y: np.ndarray, scores: np.ndarray, threshold: float | None
) -> dict[str, Any]:
    if fs.task != "classification":
        return {}
    predicted = decide(scores, positive_code(fs.labels, fs.positive_label), threshold)
    return {
        attribute: fairness(
            y,
            predicted,
            rows.column(attribute).to_numpy(zero_copy_only=False),
            spec.gates.fairness_min_group_size,
            positive=fs.positive,
            labels=fs.labels,
        )
        for attribute in spec.data.sensitive
    }


def _champion(deps: Deps, spec: ModelSpec, fs: FeatureSetRef, rows: pa.Table) -> dict[str, Any] | None:
    """The current champion's metrics on this run's test rows, or None (first model, new inputs, or a champion
    that knows other labels: its classes would not mean the same)."""
    item = ModelRegistry(deps.table, deps.clock).champion(spec.name)
    if item is None:
        return None
    inputs = feature_inputs(item["inputs"])
    if any(i.name not in rows.column_names for i in inputs):
        return None
    labels = item.get("labels", [0, 1] if fs.task == "classification" else None)  # versions before labels: 0/1
    if labels != fs.labels:
        return None
    model = load_verified_model(deps.store, item["artifacts"][layout.MODEL_SKOPS])
    scores = predict_scores(model, model_input_frame(rows, inputs), fs.task)
    y = _truth(rows.column(spec.data.target), fs.labels)
    positive = positive_code(fs.labels, fs.positive_label)
    threshold = float(item["threshold"]) if item.get("threshold") is not None else None  # the champion's own
    return {
        "version": int(item["version"]),
        "metrics": holdout_metrics(y, scores, fs.task, fs.labels, positive, threshold),
    }


def _decision(
    deps: Deps, spec: ModelSpec, fs: FeatureSetRef, challenger: Any, positive: int
) -> tuple[float | None, dict[str, Any]]:
    """The challenger's decision threshold (``training.threshold``, binary models only) and how it was chosen; a
    tuned one on the winner as it was selected, so a refit on the validation rows does not make the choice
    optimistic."""
    binary = fs.task == "classification" and len(fs.labels or ()) == 2
    wanted = spec.training.threshold if spec.training is not None and binary else None
    model = Pipeline(challenger.steps[1:])  # the estimator's steps: the split is already transformed
    decision = decision_threshold(wanted, model, lambda: load_split(deps, fs, "valid"), positive, fs.metric)
    return decision["threshold"], decision
