"""The register step: the challenger becomes the model's next version — ONNX (checked against
scikit-learn on the test split) and skops artifacts with their SHA-256, a model card, lineage and
the ``candidate`` alias. A retry of the same run returns the same version; a run whose dataset
version was already registered under the same spec version (by a run that raced it) registers
nothing and ends as "already registered" with that version."""

from __future__ import annotations

import json
from typing import Any

from slipway import layout
from slipway.contracts.training import RegisteredModel, RegisterRequest
from slipway.domain.artifacts_codec import checked_onnx, load_model
from slipway.domain.digest import sha256_hex
from slipway.domain.evaluation import scalar_metrics
from slipway.domain.explainer_export import checked_explainer, mean_abs_contribution
from slipway.domain.explanations import Explainer
from slipway.domain.features import model_input_frame
from slipway.domain.lineage import Edge, feature_set_node, model_node, run_node, spec_node
from slipway.domain.model_card import build_model_card, render_html
from slipway.domain.profile import numeric_profile
from slipway.domain.training import predict_scores
from slipway.objects import S3Object
from slipway.ports import Deps
from slipway.stores.artifacts import put_unless_identical, verified_bytes
from slipway.stores.features import holdout_rows, load_manifest
from slipway.stores.registry import ModelRegistry, Registration
from slipway.stores.runs import update_run

ALIAS = "candidate"


def register_version(deps: Deps, request: RegisterRequest) -> RegisteredModel:
    fs = request.feature_set
    registry = ModelRegistry(deps.table, deps.clock)
    # A run registers once: a retry after the version was committed reuses it (and its artifacts)
    # instead of uploading new bytes under a registered version.
    existing = registry.version_of_run(fs.model, request.run_id)
    if existing is None:
        winner = registry.trained_from(fs.model, fs.dataset_version, fs.spec_version)
        if winner is not None:  # lost before uploading anything
            return _already_registered(deps, request, registry, winner, orphaned=[])
        registration, uploaded = _upload_and_register(deps, request, registry)
        if registration.already_registered:  # lost the transaction: its uploads stay under this run's prefix
            return _already_registered(deps, request, registry, registration.version, orphaned=uploaded)
        version, created = registration.version, registration.created
    else:
        version, created = existing, False
    item = registry.get_version(fs.model, version)
    artifacts, onnx = dict(item["artifacts"]), dict(item["onnx"])

    now = deps.now_iso()
    actor = f"run:{request.run_id}"
    if created or not _alias_move_logged(registry, fs.model, actor):
        registry.advance_alias(fs.model, ALIAS, version, actor=actor, reason="registered by training")
    node = model_node(fs.model, version)
    for edge in (
        Edge(feature_set_node(fs.model, fs.id), run_node(request.run_id), "trained_in"),
        Edge(run_node(request.run_id), node, "registered_as"),
        Edge(spec_node(fs.model, fs.spec_version), node, "specified"),
    ):
        for edge_item in edge.items(now):
            deps.table.put_new(edge_item)
    if layout.MODEL_CARD_HTML not in artifacts:
        artifacts.update(_model_card(deps, request, version, artifacts, onnx, dict(item.get("explanations", {}))))
        registry.record_artifacts(fs.model, version, artifacts)
    update_run(deps, request.run_id, status="SUCCEEDED", outcome="registered", model_version=version, ended_at=now)
    return RegisteredModel(
        model=fs.model,
        version=version,
        new=created,
        alias=ALIAS,
        artifacts={name: a["uri"] for name, a in artifacts.items()},
        model_card_uri=artifacts[layout.MODEL_CARD_HTML]["uri"],
        onnx=onnx,
    )


def _already_registered(
    deps: Deps, request: RegisterRequest, registry: ModelRegistry, version: int, orphaned: list[str]
) -> RegisteredModel:
    """Another run registered this dataset version under this spec version first: end cleanly, pointing at it."""
    fs = request.feature_set
    item = registry.get_version(fs.model, version)
    artifacts = {name: a["uri"] for name, a in dict(item.get("artifacts", {})).items()}
    update_run(
        deps,
        request.run_id,
        status="SUCCEEDED",
        outcome="already_registered",
        model_version=version,
        registered_by=item.get("run_id"),
        unregistered_artifacts=orphaned or None,
        ended_at=deps.now_iso(),
    )
    return RegisteredModel(
        model=fs.model,
        version=version,
        new=False,
        alias=ALIAS,
        artifacts=artifacts,
        model_card_uri=artifacts.get(layout.MODEL_CARD_HTML, ""),
        onnx=dict(item.get("onnx", {})),
        outcome="already_registered",
        registered_by=item.get("run_id"),
    )


def _alias_move_logged(registry: ModelRegistry, model: str, actor: str) -> bool:
    """A retry after the version was committed: the run's alias move is done once it is logged (the move and
    its log entry are one write). A later run's version on the alias wins: ``advance_alias`` never moves back."""
    return any(e.get("actor") == actor and e.get("alias") == ALIAS for e in registry.alias_log(model))


def _put(deps: Deps, request: RegisterRequest, name: str, body: bytes, content_type: str) -> dict[str, str]:
    """Upload one artifact of the run's version; returns its registry record ``{"uri", "sha256"}``."""
    target = layout.model_artifact(deps.settings.artifacts_bucket, request.feature_set.model, request.run_id, name)
    written = put_unless_identical(deps.store, target, body, content_type)  # a retry writes no second version
    return {"uri": written.uri, "sha256": sha256_hex(body)}


def _upload_and_register(
    deps: Deps, request: RegisterRequest, registry: ModelRegistry
) -> tuple[Registration, list[str]]:
    """Upload the challenger's artifacts (skops, ONNX if it matches) and take the next version number;
    returns the registration and the URIs uploaded."""
    fs, evaluation = request.feature_set, request.evaluation
    best = evaluation.best
    manifest = load_manifest(deps, fs)
    inputs = manifest.feature_inputs()
    skops_bytes = verified_bytes(deps.store, best.model_uri, best.model_sha256)
    pipeline = load_model(skops_bytes)
    artifacts = {layout.MODEL_SKOPS: _put(deps, request, layout.MODEL_SKOPS, skops_bytes, "application/octet-stream")}
    holdout = model_input_frame(holdout_rows(deps, fs), inputs)
    onnx_bytes, onnx = checked_onnx(pipeline, inputs, holdout, fs.task)
    explanations: dict[str, Any] = {"status": "unavailable", "error": "no ONNX export to explain"}
    if onnx_bytes is not None:
        artifacts[layout.MODEL_ONNX] = _put(deps, request, layout.MODEL_ONNX, onnx_bytes, "application/octet-stream")
        explainer, explanations, explained = checked_explainer(pipeline, onnx_bytes, holdout, inputs)
        if explainer is not None and explained is not None:
            artifacts[layout.EXPLAINER] = _put(deps, request, layout.EXPLAINER, explainer, "application/octet-stream")
            explanations["mean_abs_contribution"] = mean_abs_contribution(explained, Explainer.from_bytes(explainer))
    reference = _drift_reference(
        deps, request, [i.name for i in manifest.inputs], predict_scores(pipeline, holdout, fs.task)
    )
    artifacts[layout.DRIFT_REFERENCE] = _put(
        deps, request, layout.DRIFT_REFERENCE, json.dumps(reference, sort_keys=True).encode(), "application/json"
    )
    registration = registry.register(
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
            "explanations": explanations,
            "inputs": [i.model_dump() for i in manifest.inputs],
            # Classification: the target's labels in the model's class order; output class j (ONNX "label"
            # and column j of "probabilities") is labels[j]. The serving path maps predictions back with it.
            "labels": manifest.labels,
            "positive_label": manifest.labels[fs.positive] if manifest.labels and fs.positive is not None else None,
            "threshold": evaluation.threshold,  # binary: the decision threshold (None: the most probable label)
            "refit": evaluation.refitted,  # fitted again on train + validation: what reproduce repeats
            "views": request.dataset.views or None,  # feature views served by entity (their keys, TTL, defaults)
            "artifacts": artifacts,
            "code_version": deps.settings.code_version,
            "raw_uri": request.dataset.raw_uri,
            "raw_version_id": request.dataset.raw_version_id,
            "evaluation_uri": evaluation.report_uri,
        },
        dataset_version=fs.dataset_version,
        spec_version=fs.spec_version,
    )
    return registration, [a["uri"] for a in artifacts.values()]


def _drift_reference(deps: Deps, request: RegisterRequest, inputs: list[str], scores: Any) -> dict[str, Any]:
    """What drift checks compare live traffic with: the training data's profile of the columns the model reads
    (from validate), the profile of its scores on the test split (P(last class), or the value, as served) and its
    test metrics."""
    profile = deps.store.get_json(S3Object.parse(request.dataset.profile_uri))
    features = {n: profile[n] for n in inputs if profile.get(n, {}).get("kind") in ("numeric", "categorical")}
    served = scores[:, -1] if getattr(scores, "ndim", 1) == 2 else scores
    fs = request.feature_set
    return {
        "model": fs.model,
        "dataset_version": fs.dataset_version,
        "task": fs.task,
        "metric": fs.metric,
        "features": features,
        "scores": numeric_profile(served),
        "test_rows": len(served),
        "test_metrics": scalar_metrics(request.evaluation.test_metrics),
    }


def _model_card(
    deps: Deps,
    request: RegisterRequest,
    version: int,
    artifacts: dict[str, dict[str, str]],
    onnx: dict[str, Any],
    explanations: dict[str, Any],
) -> dict[str, dict[str, str]]:
    """Render the card (JSON + HTML); returns their artifact records."""
    evaluation = deps.store.get_json(S3Object.parse(request.evaluation.report_uri))
    fs = request.feature_set
    manifest = load_manifest(deps, fs)
    card = build_model_card(
        model=fs.model,
        version=version,
        task=fs.task,
        metric=fs.metric,
        test_metrics=evaluation["test_metrics"],
        validation_metrics=evaluation["validation_metrics"],
        candidates=evaluation["candidates"],
        failed_candidates=evaluation.get("failed_candidates", []),
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
            "code_version": deps.settings.code_version,
        },
        artifacts=artifacts,
        onnx=onnx,
        explanations=explanations,
        decision=evaluation.get("decision"),
        labels=manifest.labels,
        positive_label=evaluation.get("positive_label"),
        missing=manifest.fills,
    )
    card_json = json.dumps(card, indent=2, sort_keys=True, default=str).encode()
    return {
        layout.MODEL_CARD_JSON: _put(deps, request, layout.MODEL_CARD_JSON, card_json, "application/json"),
        layout.MODEL_CARD_HTML: _put(
            deps, request, layout.MODEL_CARD_HTML, render_html(card).encode(), "text/html; charset=utf-8"
        ),
    }
