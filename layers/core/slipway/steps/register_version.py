"""The register step: the challenger becomes the model's next version — ONNX (checked against
scikit-learn on the test split) and skops artifacts with their SHA-256, a model card, lineage and
the ``candidate`` alias. A retry of the same run returns the same version."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from slipway.adapters.artifacts import S3Ref
from slipway.composition import Container
from slipway.contracts import RegisteredModel, RegisterRequest
from slipway.domain.artifacts_codec import checked_onnx, load_model
from slipway.domain.evaluation import scalar_metrics
from slipway.domain.features import model_input_frame
from slipway.domain.lineage import Edge, feature_set_node, model_node, run_node, spec_node
from slipway.domain.model_card import build_model_card, render_html
from slipway.registry import ModelRegistry, model_pk, version_sk
from slipway.steps.build_features import manifest
from slipway.steps.common import verified_bytes
from slipway.steps.evaluate_challenger import feature_inputs, holdout_rows
from slipway.steps.runs import now_iso, update_run

ALIAS = "candidate"


def register_version(c: Container, request: RegisterRequest) -> RegisteredModel:
    fs = request.feature_set
    registry = ModelRegistry(c.table)
    # A run registers once: a retry after the version was committed reuses it (and its artifacts)
    # instead of uploading new bytes under a registered version.
    existing = registry.version_of_run(fs.model, request.run_id)
    if existing is None:
        version, created = _upload_and_register(c, request, registry)
    else:
        version, created = existing, False
    item = registry.get_version(fs.model, version)
    artifacts, onnx = dict(item["artifacts"]), dict(item["onnx"])

    now = now_iso()
    registry.mark_trained(fs.model, fs.dataset_version, fs.spec_version, version)
    if created:
        registry.set_alias(fs.model, ALIAS, version, actor=f"run:{request.run_id}", reason="registered by training")
    node = model_node(fs.model, version)
    for edge in (
        Edge(feature_set_node(fs.model, fs.id), run_node(request.run_id), "trained_in"),
        Edge(run_node(request.run_id), node, "registered_as"),
        Edge(spec_node(fs.model, fs.spec_version), node, "specified"),
    ):
        for edge_item in edge.items(now):
            c.table.put_new(edge_item)
    if "model_card.html" not in artifacts:
        artifacts.update(_model_card(c, request, version, artifacts, onnx))
    update_run(c, request.run_id, status="SUCCEEDED", model_version=version, ended_at=now)
    return RegisteredModel(
        model=fs.model,
        version=version,
        new=created,
        alias=ALIAS,
        artifacts={name: a["uri"] for name, a in artifacts.items()},
        model_card_uri=artifacts["model_card.html"]["uri"],
        onnx=onnx,
    )


def _prefix(request: RegisterRequest) -> str:
    return f"models/{request.feature_set.model}/runs/{request.run_id}/"


def _upload_and_register(c: Container, request: RegisterRequest, registry: ModelRegistry) -> tuple[int, bool]:
    """Upload the challenger's artifacts (skops, ONNX if it matches) and take the next version number."""
    fs, evaluation = request.feature_set, request.evaluation
    best = evaluation.best
    raw_inputs = manifest(c, fs)["inputs"]
    inputs = feature_inputs(raw_inputs)  # type: ignore[arg-type]
    skops_bytes = verified_bytes(c, best.model_uri, best.model_sha256)
    pipeline = load_model(skops_bytes)
    artifacts: dict[str, dict[str, str]] = {}

    def put(name: str, body: bytes, content_type: str) -> None:
        ref = c.store.put_bytes(S3Ref(c.settings.artifacts_bucket, _prefix(request) + name), body, content_type)
        artifacts[name] = {"uri": ref.uri, "sha256": hashlib.sha256(body).hexdigest()}

    put("model.skops", skops_bytes, "application/octet-stream")
    holdout = model_input_frame(holdout_rows(c, fs), inputs)
    onnx_bytes, onnx = checked_onnx(pipeline, inputs, holdout, fs.task)
    if onnx_bytes is not None:
        put("model.onnx", onnx_bytes, "application/octet-stream")
    return registry.register(
        fs.model,
        request.run_id,
        {
            "dataset_version": fs.dataset_version,
            "spec_version": fs.spec_version,
            "feature_set": fs.id,
            "task": fs.task,
            "metric": fs.metric,
            "algorithm": best.algorithm,
            "params": best.params,
            "params_json": json.dumps(best.params, sort_keys=True),  # DynamoDB numbers lose 1.0 vs 1
            "seed": fs.seed,
            "test_metrics": scalar_metrics(evaluation.test_metrics),
            "validation_metrics": best.metrics,
            "gate": evaluation.gate.summary,
            "onnx": onnx,
            "inputs": raw_inputs,
            "artifacts": artifacts,
            "code_version": c.settings.code_version,
            "raw_uri": request.dataset.raw_uri,
            "raw_version_id": request.dataset.raw_version_id,
            "evaluation_uri": evaluation.report_uri,
        },
    )


def _model_card(
    c: Container,
    request: RegisterRequest,
    version: int,
    artifacts: dict[str, dict[str, str]],
    onnx: dict[str, Any],
) -> dict[str, dict[str, str]]:
    """Render the card (JSON + HTML), record both on the version item; returns their artifacts."""
    evaluation = c.store.get_json(S3Ref.parse(request.evaluation.report_uri))
    fs = request.feature_set
    card = build_model_card(
        model=fs.model,
        version=version,
        task=fs.task,
        metric=fs.metric,
        test_metrics=evaluation["test_metrics"],
        validation_metrics=evaluation["validation_metrics"],
        candidates=evaluation["candidates"],
        best=evaluation["best"],
        fairness=evaluation["fairness"],
        importances=evaluation["importances"],
        comparison=evaluation["comparison"],
        gate=evaluation["gate"],
        lineage={
            "raw_objects": [request.dataset.raw_uri],
            "dataset_version": fs.dataset_version,
            "feature_set": fs.id,
            "run_id": request.run_id,
            "spec_version": fs.spec_version,
            "code_version": c.settings.code_version,
        },
        artifacts=artifacts,
        onnx=onnx,
    )
    bucket = c.settings.artifacts_bucket
    card_artifacts: dict[str, dict[str, str]] = {}
    for name, body, content_type in (
        ("model_card.json", json.dumps(card, indent=2, sort_keys=True, default=str).encode(), "application/json"),
        ("model_card.html", render_html(card).encode(), "text/html; charset=utf-8"),
    ):
        ref = c.store.put_bytes(S3Ref(bucket, _prefix(request) + name), body, content_type)
        card_artifacts[name] = {"uri": ref.uri, "sha256": hashlib.sha256(body).hexdigest()}
    c.table.update(model_pk(fs.model), version_sk(version), {"artifacts": {**artifacts, **card_artifacts}})
    return card_artifacts
