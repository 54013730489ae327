"""The promotion machine's first step, in the target environment: check the request against this
environment's configured source, record the promotion and take the model's promotion lock — a second
promotion of the same model fails here, typed, having changed nothing. In dev, which trains its versions
and takes none, the only source is dev itself: a release in place (a retraining's, by its policy)."""

from __future__ import annotations

from typing import Any

from slipway.contracts.promotion import PromoteRequest, Promotion, StartRequest
from slipway.errors import InvalidEvent
from slipway.ports import Deps
from slipway.stores.promotions import acquire_lock, record
from slipway.stores.registry import parse_ref


def begin_promotion(deps: Deps, start: StartRequest) -> Promotion:
    target, source = deps.settings.env, deps.settings.promotion_source_env
    if target == "dev" and source is None:
        source = "dev"  # dev releases its own versions in place
    elif target not in ("staging", "prod") or source is None:
        raise InvalidEvent(f"{target} takes no promotions (staging takes them from dev, prod from staging)")
    request: PromoteRequest = PromoteRequest.from_event(start.request)
    if request.source_env != source:
        raise InvalidEvent(
            f"{target} takes versions from {source}, not from {request.source_env}",
            {"errors": [{"field": "source_env", "message": f"expected {source}"}]},
        )
    model, selector = parse_ref(request.ref)
    assert selector is not None  # the contract's pattern requires MODEL@SELECTOR
    fields: dict[str, Any] = {
        "model": model,
        "ref": request.ref,
        "source_env": request.source_env,
        "target_env": target,
        "requested_by": request.requested_by,
        "reason": request.reason,
        "execution_arn": start.execution_arn,
        "in_place": source == target,
    }
    if request.retraining is not None:
        fields["retraining"] = request.retraining.model_dump(mode="json")
    promotion_record = record(deps, start.execution, status="RUNNING", step="Begin", **fields)
    acquire_lock(deps, model, start.execution)
    return Promotion(
        id=start.execution,
        execution_arn=start.execution_arn,
        model=model,
        ref=request.ref,
        selector=selector,
        source_env=request.source_env,
        target_env=target,  # type: ignore[arg-type]  # settings.env is one of the three environments
        requested_by=request.requested_by,
        reason=request.reason,
        started_at=str(promotion_record["started_at"]),
        in_place=source == target,
        retraining=request.retraining,
    )
