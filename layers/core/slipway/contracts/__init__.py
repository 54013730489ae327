"""Pydantic contracts of what each state machine's steps receive and return: ids, S3 URIs and small dicts only
(Step Functions payloads are capped at 256 KiB). One module per machine; the base of every step input here."""

from __future__ import annotations

from typing import Any, Self

from pydantic import ValidationError

from slipway.errors import InvalidEvent
from slipway.schema import Frozen, field_errors

__all__ = ["StepRequest", "invalid_event"]


def invalid_event(error: ValidationError, what: str) -> InvalidEvent:
    """A pydantic error as a typed step error that names each field at fault."""
    errors = field_errors(error)
    fields = ", ".join(e["field"] for e in errors)
    return InvalidEvent(f"malformed {what} event: {fields}", {"errors": errors})


class StepRequest(Frozen):
    """A step input; a malformed one raises InvalidEvent naming each field at fault."""

    @classmethod
    def from_event(cls, event: Any) -> Self:
        try:
            return cls.model_validate(event)
        except ValidationError as e:
            raise invalid_event(e, cls.__name__.removesuffix("Request").lower()) from e
