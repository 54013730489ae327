"""The one place boto3 clients are created: lazily, cached per (service, region, endpoint)."""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from slipway.errors import TransientError

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=60)

TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "ServiceUnavailable",
        "InternalError",
        "RequestTimeout",
        "Throttling",
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "InternalServerError",
    }
)


@functools.lru_cache(maxsize=64)
def client(service: str, region: str, endpoint_url: str | None = None, session: Any = None) -> Any:
    """A cached client; ``session`` (a boto3 Session) for operator tools, default credentials otherwise."""
    return (session or boto3.session.Session()).client(
        service, region_name=region, endpoint_url=endpoint_url, config=_CONFIG
    )


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def is_transient(error: Exception) -> bool:
    if isinstance(error, (EndpointConnectionError, ReadTimeoutError, ConnectionClosedError)):
        return True
    if isinstance(error, ClientError):
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return error_code(error) in TRANSIENT_CODES or status >= 500
    return False


def raise_transient(error: Exception, what: str) -> None:
    """Re-raise a retryable AWS failure as TransientError (which the ASL retries)."""
    if is_transient(error):
        raise TransientError(f"{what}: {error}") from error
