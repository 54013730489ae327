"""Every exception a step's handler lets out reaches Step Functions as one of our error classes: ours
pass unchanged, a retryable AWS failure becomes TransientError, and anything else (a library's
ValueError, a bug, an unmapped AWS error) becomes InternalError naming the original type, so the
ASL never sees a bare ``ValueError`` and the run record says what happened."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from slipway.adapters.clients import error_code, is_transient
from slipway.errors import InternalError, SlipwayError, TransientError

__all__ = ["MAX_CAUSE_CHARS", "as_typed_error", "typed_errors"]

MAX_CAUSE_CHARS = 2_000  # Step Functions keeps a cause of up to 32,768 characters; a message stays readable


def as_typed_error(exc: BaseException) -> SlipwayError:
    """The error of ours that stands for ``exc`` (itself when it is one)."""
    if isinstance(exc, SlipwayError):
        return exc
    kind = f"{type(exc).__module__}.{type(exc).__qualname__}".removeprefix("builtins.")
    text = str(exc)
    if len(text) > MAX_CAUSE_CHARS:
        text = text[:MAX_CAUSE_CHARS] + f"… ({len(text) - MAX_CAUSE_CHARS} more characters)"
    details: dict[str, Any] = {"type": kind}
    if isinstance(exc, (ClientError, BotoCoreError)) and is_transient(exc):
        return TransientError(f"{kind}: {text}", details)
    if isinstance(exc, ClientError):
        details["code"] = error_code(exc)
    return InternalError(f"unexpected {kind}: {text}", details)


def typed_errors[F: Callable[..., Any]](handler: F) -> F:
    """Decorate a Lambda handler so that whatever it raises is one of our typed errors."""

    @functools.wraps(handler)
    def wrapper(event: Any, context: Any) -> Any:
        try:
            return handler(event, context)
        except SlipwayError:
            raise
        except Exception as exc:
            raise as_typed_error(exc) from exc

    return wrapper  # type: ignore[return-value]  # functools.wraps keeps the wrapped handler's signature
