"""operate: the acts a person asks of an environment (start a promotion, answer an approval, roll production
back, move an alias, push a spec, record a reproduction) over the HTTP API, done in the name of the caller API
Gateway verified (IAM authorization: the SigV4 signature's principal), so the audit trail records who really acted
and the team roles themselves write nothing in the metadata table. Which team may ask for what is IAM's decision
(execute-api:Invoke on each route, docs/permissions.md); this function adds what IAM cannot see: nobody answers
the approval of a promotion they requested."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from slipway.composition import deps
from slipway.errors import ConflictError, Forbidden, NotFound, SpecError
from slipway.operations import acts
from slipway.operations.http import AliasBody, AnswerBody, PromoteBody, ReproductionBody, RollbackBody, SpecBody
from slipway.serving.http import error_answer, invalid_body_answer
from slipway.stores.registry import ANY_PREVIOUS

logger = Logger()
app = APIGatewayHttpResolver(enable_validation=True)


app.exception_handler(RequestValidationError)(invalid_body_answer)


@app.exception_handler(Forbidden)
def _forbidden(error: Forbidden) -> Response[Any]:
    return error_answer(403, error.message)


@app.exception_handler(NotFound)
def _not_found(error: NotFound) -> Response[Any]:
    return error_answer(404, error.message)


@app.exception_handler(ConflictError)
def _conflict(error: ConflictError) -> Response[Any]:
    return error_answer(409, error.message)


@app.exception_handler(ValueError)
def _refused(error: ValueError) -> Response[Any]:
    """What the registry refuses by its rules (an unknown or read-only alias)."""
    return error_answer(422, str(error))


@app.exception_handler(SpecError)
def _bad_spec(error: SpecError) -> Response[Any]:
    return error_answer(422, error.message, error.details.get("errors"))


def _caller() -> str:
    """The principal API Gateway verified (the route's IAM authorization); no route runs without one."""
    iam = app.current_event.request_context.authorizer.iam
    arn = iam.user_arn if iam is not None else None
    if not arn:
        raise Forbidden("the request carries no verified caller (the route wants IAM authorization)")
    return str(arn)


@app.post("/v1/models/<model>/promotions")
def promote(model: str, body: PromoteBody) -> Response[Any]:
    """Start the promotion of ``model@version`` (a version or an alias of the source environment) into this one."""
    started = acts.start_promotion(deps(), model, body.version, body.source_env, body.reason, _caller())
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=started)


@app.post("/v1/models/<model>/approval")
def answer(model: str, body: AnswerBody) -> dict[str, Any]:
    """Approve or reject the promotion of ``model`` that waits here (not one the caller requested)."""
    return acts.answer_approval(deps(), model, body.decision == "approve", body.reason, _caller())


@app.post("/v1/models/<model>/rollback")
def rollback(model: str, body: RollbackBody) -> dict[str, Any]:
    """Production back to the version it pointed at before its last move."""
    return acts.rollback(deps(), model, body.reason, _caller())


@app.put("/v1/models/<model>/aliases/<alias>")
def move_alias(model: str, alias: str, body: AliasBody) -> dict[str, Any]:
    """Point an alias at a version (a challenger with its share of traffic), conditionally if asked."""
    expected: int | object | None = ANY_PREVIOUS
    if body.expect_previous is not None:
        expected = None if body.expect_previous == "none" else body.expect_previous
    return acts.move_alias(
        deps(), model, alias, body.version, body.reason, _caller(), weight=body.weight, expect_previous=expected
    )


@app.delete("/v1/models/<model>/aliases/<alias>")
def clear_alias(model: str, alias: str, body: RollbackBody) -> dict[str, Any]:
    """Remove an alias (a challenger after its test), logged."""
    return acts.clear_alias(deps(), model, alias, body.reason, _caller())


@app.post("/v1/models/<model>/versions/<version>/reproductions")
def record_reproduction(model: str, version: str, body: ReproductionBody) -> Response[Any]:
    """Record what ``slipway reproduce`` found for ``model`` v``version``, in the caller's name."""
    if not version.isdigit():
        raise ValueError(f"version: {version!r} is not a version number")
    recorded = acts.record_reproduction(deps(), model, int(version), body.model_dump(mode="json"), _caller())
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=recorded)


@app.post("/v1/specs")
def push_spec(body: SpecBody) -> dict[str, Any]:
    """Validate a spec and make it its model's current one (its drift schedule follows)."""
    return acts.push(deps(), body.spec, body.reason, _caller())


@app.post("/v1/feature-views")
def push_feature_view(body: SpecBody) -> dict[str, Any]:
    """Validate a feature view's spec and make it the view's current one."""
    return acts.push_feature_view(deps(), body.spec, body.reason, _caller())


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
