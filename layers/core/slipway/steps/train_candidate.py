"""The train step (one Map iteration): fits one candidate on the feature set's training matrix,
scores it on the validation split and records a candidate item with everything to reproduce it."""

from __future__ import annotations

import hashlib
import json

from slipway.adapters.artifacts import S3Ref
from slipway.composition import Container
from slipway.contracts import TrainRequest, TrainResult
from slipway.domain.artifacts_codec import dump_model, load_model
from slipway.domain.training import Candidate, assemble, fit_estimator, score
from slipway.steps.build_features import load_split
from slipway.steps.runs import now_iso


def candidate_key(run_id: str, index: int, sha256: str) -> str:
    """Content-addressed: a retried fit (skops bytes differ run to run) never overwrites the artifact an
    earlier result points to, so every recorded SHA-256 stays verifiable."""
    return f"runs/{run_id}/candidates/{index:03d}/{sha256}.skops"


def train_candidate(c: Container, request: TrainRequest) -> TrainResult:
    fs = request.feature_set
    candidate = Candidate(request.candidate.index, request.candidate.algorithm, dict(request.candidate.params))
    X_train, y_train = load_split(c, fs, "train")
    X_valid, y_valid = load_split(c, fs, "valid")
    estimator, fit_seconds = fit_estimator(X_train, y_train, fs.task, candidate, fs.seed)
    metrics = score(estimator, X_valid, y_valid, fs.task)

    preprocessor = load_model(c.store.get_bytes(S3Ref.parse(fs.uri + "preprocessor.skops")))
    body = dump_model(assemble(preprocessor, estimator))
    sha = hashlib.sha256(body).hexdigest()
    ref = c.store.put_bytes(
        S3Ref(c.settings.artifacts_bucket, candidate_key(request.run_id, candidate.index, sha)), body
    )

    c.table.put(
        {
            "PK": f"RUN#{request.run_id}",
            "SK": f"CANDIDATE#{candidate.index:03d}",
            "run_id": request.run_id,
            "index": candidate.index,
            "algorithm": candidate.algorithm,
            "params": candidate.params,
            "params_json": json.dumps(candidate.params, sort_keys=True),  # DynamoDB numbers lose 1.0 vs 1
            "validation_metrics": metrics,
            "fit_seconds": round(fit_seconds, 4),
            "seed": fs.seed,
            "spec_version": fs.spec_version,
            "dataset_version": fs.dataset_version,
            "feature_set": fs.id,
            "code_version": c.settings.code_version,
            "model_uri": ref.uri,
            "model_sha256": sha,
            "trained_at": now_iso(),
        }
    )
    return TrainResult(
        index=candidate.index,
        algorithm=candidate.algorithm,
        params=candidate.params,
        metrics=metrics,
        fit_seconds=round(fit_seconds, 4),
        model_uri=ref.uri,
        model_sha256=sha,
    )
