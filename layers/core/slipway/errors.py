"""Typed domain errors. Each class name is an ASL ``ErrorEquals`` value, so Step Functions
Retry/Catch match on it exactly as AWS Lambda reports ``errorType``."""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "ALL_ERRORS",
    "ApprovalRejected",
    "ApprovalTimedOut",
    "ArtifactIntegrityError",
    "CanaryRolledBack",
    "ConflictError",
    "DataContractViolation",
    "Forbidden",
    "InternalError",
    "InvalidEvent",
    "NoCandidateTrained",
    "NotFound",
    "PromotionInProgress",
    "QualityGateFailed",
    "SlipwayError",
    "SpecError",
    "TransientError",
]


class SlipwayError(Exception):
    """Base of every slipway error; ``details`` is a small JSON-able dict for the cause."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def __str__(self) -> str:
        # Lambda reports str(exception) as errorMessage, which Step Functions puts in the Cause.
        if not self.details:
            return self.message
        return f"{self.message} {json.dumps(self.details, sort_keys=True, default=str)}"


class DataContractViolation(SlipwayError):
    """An upload broke the model spec's data contract; the object was quarantined."""


class SpecError(SlipwayError):
    """A model spec is malformed; ``details['errors']`` names each field at fault."""


class InvalidEvent(SlipwayError):
    """A step received an event it cannot parse; ``details['errors']`` names each field at fault."""


class TransientError(SlipwayError):
    """A dependency failed in a way that a retry may fix (throttling, timeouts, 5xx)."""


class NotFound(SlipwayError):
    """A referenced object, item or version does not exist."""


class ConflictError(SlipwayError):
    """A conditional write lost a race or found a different value under the same key."""


class Forbidden(SlipwayError):
    """The verified caller may not do this, whatever their role allows (e.g. approve a promotion they requested)."""


class PromotionInProgress(ConflictError):
    """Another promotion of the same model holds the target environment; this one changed nothing."""


class ApprovalRejected(SlipwayError):
    """A person rejected the promotion (``slipway reject``); ``details`` name who and why."""


class ApprovalTimedOut(SlipwayError):
    """Nobody answered the approval request before its deadline: the promotion is rejected."""


class CanaryRolledBack(SlipwayError):
    """The canary was unhealthy over its bake window; the challenger was cleared, production untouched."""


class ArtifactIntegrityError(SlipwayError):
    """An artifact's SHA-256 does not match the one recorded in the registry."""


class QualityGateFailed(SlipwayError):
    """A challenger failed the spec's gates; ``details['reasons']`` lists why."""


class NoCandidateTrained(SlipwayError):
    """Every candidate of a run failed to train; ``details['failed']`` names each with its error."""


class InternalError(SlipwayError):
    """Anything a step raised that is not one of ours (a bug, a library's ValueError, an unmapped AWS
    error): ``details['type']`` names the original exception class, so Step Functions still sees one
    of our error names and the cause keeps what happened."""


ALL_ERRORS: dict[str, type[SlipwayError]] = {
    cls.__name__: cls
    for cls in (
        SlipwayError,
        DataContractViolation,
        SpecError,
        InvalidEvent,
        TransientError,
        NotFound,
        Forbidden,
        ConflictError,
        ArtifactIntegrityError,
        QualityGateFailed,
        NoCandidateTrained,
        InternalError,
        PromotionInProgress,
        ApprovalRejected,
        ApprovalTimedOut,
        CanaryRolledBack,
    )
}
