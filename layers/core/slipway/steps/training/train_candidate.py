"""The train step (one Map iteration): fits one candidate on the feature set's training matrix,
scores it on the validation split and records a candidate item with everything to reproduce it, the warnings it
raised and what they and its score flag (not converged, numerical trouble, below chance), and what it would cost
to serve (its ONNX export's size, its prediction time per 1,000 rows)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from slipway import layout
from slipway.contracts.training import TrainRequest, TrainResult
from slipway.domain.artifacts_codec import dump_model
from slipway.domain.digest import sha256_hex
from slipway.domain.features import model_input_frame
from slipway.domain.fit_warnings import caught_warnings, warning_texts
from slipway.domain.leaderboard import PREDICT_ROWS, serving_cost
from slipway.domain.training import (
    Candidate,
    assemble,
    candidate_flags,
    cross_validate,
    fit_estimator,
    positive_code,
    score,
)
from slipway.objects import S3Object
from slipway.ports import Deps
from slipway.stores.features import curated_rows, load_manifest, load_preprocessor, load_split
from slipway.stores.runs import record_candidate
from slipway.stores.specs import training_spec


def train_candidate(deps: Deps, request: TrainRequest) -> TrainResult:
    fs = request.feature_set
    recorded = _recorded(deps, request)
    if recorded is not None:  # a retry after the candidate was fitted and recorded: no second fit, no second artifact
        return recorded
    candidate = Candidate(request.candidate.index, request.candidate.algorithm, dict(request.candidate.params))
    X_train, y_train = load_split(deps, fs, "train")
    X_valid, y_valid = load_split(deps, fs, "valid")
    with caught_warnings() as caught:  # onto the candidate's record, not only the function's log
        estimator, fit_seconds = fit_estimator(
            X_train, y_train, fs.task, candidate, fs.seed, validation=(X_valid, y_valid)
        )
        metrics = score(estimator, X_valid, y_valid, fs.task, positive_code(fs.labels, fs.positive_label))
    flags = candidate_flags(fs.task, metrics, caught)
    cv = _cross_validated(deps, request, candidate, (X_train, y_train), (X_valid, y_valid))

    pipeline = assemble(load_preprocessor(deps, fs), estimator)
    inputs = load_manifest(deps, fs).feature_inputs()
    cost = serving_cost(pipeline, inputs, model_input_frame(curated_rows(deps, fs, "valid", PREDICT_ROWS), inputs))
    body = dump_model(pipeline)
    sha = sha256_hex(body)
    written = deps.store.put_bytes(
        layout.candidate_artifact(deps.settings.artifacts_bucket, request.run_id, candidate.index, sha), body
    )
    record_candidate(
        deps,
        request.run_id,
        candidate.index,
        algorithm=candidate.algorithm,
        params=candidate.params,
        params_json=json.dumps(candidate.params, sort_keys=True),  # DynamoDB numbers lose 1.0 vs 1
        validation_metrics=metrics,
        cv=cv,
        flags=flags,
        warnings=warning_texts(caught),
        fit_seconds=round(fit_seconds, 4),
        **cost,
        seed=fs.seed,
        spec_version=fs.spec_version,
        dataset_version=fs.dataset_version,
        feature_set=fs.id,
        code_version=deps.settings.code_version,
        model_uri=written.uri,
        model_sha256=sha,
        trained_at=deps.now_iso(),
    )
    return TrainResult(
        index=candidate.index,
        algorithm=candidate.algorithm,
        params=candidate.params,
        metrics=metrics,
        flags=flags,
        fit_seconds=round(fit_seconds, 4),
        model_uri=written.uri,
        model_sha256=sha,
        cv=cv,
        **cost,
    )


def _cross_validated(
    deps: Deps, request: TrainRequest, candidate: Candidate, train: tuple[Any, Any], valid: tuple[Any, Any]
) -> dict[str, Any] | None:
    """The candidate's k-fold scores over the training and validation rows, when ``training.cv`` asks for folds
    at this size (the served model stays the one fitted on the training rows)."""
    fs = request.feature_set
    spec = training_spec(deps, fs.model, fs.spec_version).training
    folds = spec.folds(fs.rows.get("train", 0) + fs.rows.get("valid", 0)) if spec is not None else None
    if folds is None:
        return None
    X = np.concatenate([np.asarray(train[0]), np.asarray(valid[0])])
    y = np.concatenate([np.asarray(train[1]), np.asarray(valid[1])])
    with caught_warnings():  # the folds' own warnings: the record keeps the served fit's
        return cross_validate(X, y, fs.task, candidate, fs.seed, folds, positive_code(fs.labels, fs.positive_label))


def _recorded(deps: Deps, request: TrainRequest) -> TrainResult | None:
    """The result this run already recorded for this candidate on this feature set, if its artifact exists."""
    item = deps.table.get(*layout.candidate_key(request.run_id, request.candidate.index))
    if item is None or item.get("feature_set") != request.feature_set.id or "model_uri" not in item:
        return None
    if not deps.store.exists(S3Object.parse(item["model_uri"])):
        return None
    return TrainResult(
        index=request.candidate.index,
        algorithm=item["algorithm"],
        params=json.loads(item["params_json"]),
        metrics=item["validation_metrics"],
        flags=item.get("flags", []),
        fit_seconds=float(item["fit_seconds"]),
        model_uri=item["model_uri"],
        model_sha256=item["model_sha256"],
        cv=item.get("cv"),
        onnx_bytes=item.get("onnx_bytes"),
        predict_ms_per_1000=item.get("predict_ms_per_1000"),
        onnx_error=item.get("onnx_error"),
    )
