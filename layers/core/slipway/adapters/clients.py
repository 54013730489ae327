"""The one place boto3 clients are created: lazily, cached per (service, region, endpoint)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from slipway.errors import ConflictError, NotFound, TransientError

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


@contextmanager
def aws_errors(
    what: str, *, missing: frozenset[str] = frozenset(), conflict: frozenset[str] = frozenset()
) -> Iterator[None]:
    """Turn an AWS failure inside the block into a domain error: an error code in ``missing`` → NotFound,
    in ``conflict`` → ConflictError, a retryable one → TransientError (which the ASL retries); anything
    else propagates unchanged."""
    try:
        yield
    except ClientError as e:
        code = error_code(e)
        if code in missing:
            raise NotFound(f"{what}: not found", {"code": code}) from e
        if code in conflict:
            raise ConflictError(f"{what}: condition failed", {"code": code}) from e
        if is_transient(e):
            raise TransientError(f"{what}: {e}", {"code": code}) from e
        raise
    except BotoCoreError as e:
        if is_transient(e):
            raise TransientError(f"{what}: {e}") from e
        raise
