"""The one place AWS clients are created: lazily, cached per (service, region, endpoint). Inside
Lambda they come from one botocore session, without importing boto3 (its import pulls s3transfer,
~125 ms of a cold start, and the functions use no boto3 resource or transfer method); operator tools
pass a boto3 Session (a profile)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import botocore.session
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


_creating = threading.Lock()  # a botocore session is not thread-safe; the clients it makes are


@functools.lru_cache(maxsize=64)
def client(service: str, region: str, endpoint_url: str | None = None, session: Any = None) -> Any:
    """A cached client; ``session`` (a boto3 Session) for operator tools, default credentials otherwise."""
    if session is not None:
        return session.client(service, region_name=region, endpoint_url=endpoint_url, config=_CONFIG)
    with _creating:
        return _default_session().create_client(service, region_name=region, endpoint_url=endpoint_url, config=_CONFIG)


@functools.cache
def _default_session() -> botocore.session.Session:
    """One botocore session for every client of the process: its loader parses each data file once
    (endpoints, partitions, retry config) and credentials are resolved once."""
    session = botocore.session.get_session()
    if _loader is not None:
        session.register_component("data_loader", _loader)
    return session


_loader: Any = None  # the data loader of the session before a reset: what it parsed is data, not state


def reset() -> None:
    """Forget every client and the session they came from; the next client comes from a new session (credentials
    resolved again, new connections) that keeps the old one's data loader, so the service models it parsed are
    not parsed again (creating the DynamoDB client: ~70 ms cold, ~2 ms so)."""
    global _loader
    with _creating:
        if _default_session.cache_info().currsize:
            _loader = _default_session().get_component("data_loader")
        client.cache_clear()
        _default_session.cache_clear()


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
