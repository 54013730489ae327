"""What the console tells a person whose role was refused: "your role slipway-prod-data-engineer may not …" with
AWS's own reason, never a traceback."""

from __future__ import annotations

import re
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from slipway.errors import Forbidden, SlipwayError

__all__ = ["Refusal", "failure_text", "refusal", "role_of"]

DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnrecognizedClientException", "Forbidden"}
)
_ACTION = re.compile(r"perform:? ([a-z0-9-]+:[A-Za-z0-9*]+)")


def role_of(principal: str) -> str:
    """``arn:aws:sts::1:assumed-role/slipway-prod-platform/member`` → ``role slipway-prod-platform``; a user's ARN
    → ``user NAME``; anything else as it is."""
    resource = principal.split(":", 5)[-1]
    kind, _, rest = resource.partition("/")
    if kind == "assumed-role":
        return f"role {rest.partition('/')[0]}"
    if kind in ("user", "role"):
        return f"{kind} {rest.rpartition('/')[2]}"
    return principal


@dataclass(frozen=True)
class Refusal:
    """A call AWS (or the stack's API) refused: who, what they tried, and AWS's message."""

    who: str
    doing: str
    action: str | None
    message: str

    @property
    def headline(self) -> str:
        what = f" ({self.action})" if self.action else ""
        return f"your {self.who} may not {self.doing}{what}"


def refusal(error: BaseException, principal: str, doing: str) -> Refusal | None:
    """The refusal ``error`` stands for (AccessDenied from boto3, the API's 403), or None for any other error."""
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code not in DENIED_CODES:
            return None
        message = str(error.response.get("Error", {}).get("Message", "")) or str(error)
    elif isinstance(error, Forbidden):
        message = error.message
    else:
        return None
    found = _ACTION.search(message)
    return Refusal(role_of(principal), doing, found.group(1) if found else None, message)


def failure_text(error: BaseException) -> str:
    """One line for an error that is not a refusal (a missing stack, a stopped endpoint): its type and message."""
    if isinstance(error, SlipwayError):
        return f"{type(error).__name__}: {error.message}"
    if isinstance(error, (ClientError, BotoCoreError)):
        return f"{type(error).__name__}: {error}"
    return f"{type(error).__name__}: {error}"
