"""One typed step handler: a Lambda entry point declared from its request contract and its step, so each plain
handler in ``functions/<step>/app.py`` is one declaration (the event parsed into the contract, the request's keys
on every log line, the step on this environment's ports, what it did, its result as JSON, typed errors)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from slipway.composition import deps, typed_errors
from slipway.ports import Deps

__all__ = ["StepHandler", "promotion_keys", "step_handler"]

type Event = dict[str, Any]
type StepHandler = Callable[[Event, LambdaContext], dict[str, Any]]


class _Parses[R](Protocol):
    """A request contract: ``StepRequest.from_event`` (or a contract of the same shape)."""

    def from_event(self, event: Any) -> R: ...


class _Promotional(Protocol):
    @property
    def promotion(self) -> Any: ...


def promotion_keys(request: _Promotional) -> Mapping[str, object]:
    """The promotion and model on every log line of a promotion machine's step."""
    return {"promotion": request.promotion.id, "model": request.promotion.model}


def step_handler[R, T: BaseModel | dict[str, Any]](
    contract: _Parses[R],
    step: Callable[[Deps, R], T],
    *,
    keys: Callable[[R], Mapping[str, object]],
    done: str,
    details: Callable[[R, T], Mapping[str, object]] | None = None,
    level: Literal["info", "warning"] = "info",
) -> StepHandler:
    """The Lambda handler of ``step``: ``contract.from_event(event)`` (a malformed event raises ``InvalidEvent``
    naming each field), ``keys(request)`` appended to the log, ``step(deps(), request)``, ``done`` logged at
    ``level`` with ``details(request, result)``, the result dumped as JSON (a pydantic model) or returned as is (a
    dict). Anything untyped leaving the step becomes ``InternalError`` (``typed_errors``)."""
    logger = Logger()

    @logger.inject_lambda_context
    @typed_errors
    def lambda_handler(event: Event, context: LambdaContext) -> dict[str, Any]:
        request = contract.from_event(event)
        logger.append_keys(**keys(request))
        result = step(deps(), request)
        log = logger.warning if level == "warning" else logger.info
        log(done, extra=dict(details(request, result)) if details else None)
        return result if isinstance(result, dict) else result.model_dump(mode="json")

    return lambda_handler
