"""An in-place release's registration step (dev, which trains its own versions): resolve ``MODEL@VERSION`` or
``MODEL@ALIAS`` in this registry — a registered version passed its gates — check it has an ONNX artifact to
serve, and say what its spec's deployment section asks here, as ``register_promoted`` does for a copy."""

from __future__ import annotations

from slipway import layout
from slipway.contracts.promotion import PromotedVersion, StageRequest
from slipway.errors import NotFound
from slipway.ports import Deps
from slipway.stores.promotions import deployment_plan, record
from slipway.stores.registry import ModelRegistry
from slipway.stores.specs import spec_at


def stage_release(deps: Deps, request: StageRequest) -> PromotedVersion:
    promotion = request.promotion
    registry = ModelRegistry.of(deps)
    item = registry.resolve(promotion.ref)
    model, version = str(item["model"]), int(item["version"])
    if layout.MODEL_ONNX not in item.get("artifacts", {}):
        reason = item.get("onnx", {}).get("error", "no ONNX export")
        raise NotFound(
            f"{model}@{version} has no ONNX artifact to serve ({reason}); it cannot be released",
            {"model": model, "version": version},
        )
    champion = registry.alias(model, "production")
    record(deps, promotion.id, step="Stage", target_version=version, champion=champion, source_version=version)
    spec = spec_at(deps, model, str(item["spec_version"]))
    return deployment_plan(deps, spec, model, version, champion, new=False)
