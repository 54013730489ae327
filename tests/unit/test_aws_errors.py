"""AWS failures become domain errors in one place (``aws_errors``): missing → NotFound, a lost
condition → ConflictError, throttling/5xx/connection trouble → TransientError (which the ASL
retries), anything else unchanged — and the block always raises when the call failed."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ParamValidationError

from slipway.adapters.clients import aws_errors
from slipway.errors import ConflictError, NotFound, TransientError


def client_error(code: str, status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (client_error("NoSuchKey", 404), NotFound),
        (client_error("ConditionalCheckFailedException"), ConflictError),
        (client_error("SlowDown", 503), TransientError),
        (client_error("ProvisionedThroughputExceededException"), TransientError),
        (client_error("SomethingNew", 500), TransientError),
        (EndpointConnectionError(endpoint_url="https://s3.amazonaws.com"), TransientError),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, type) else str(v)[:40],
)
def test_aws_failures_become_typed_domain_errors(error: Exception, expected: type[Exception]) -> None:
    with (
        pytest.raises(expected) as caught,
        aws_errors(
            "get s3://b/k", missing=frozenset({"NoSuchKey"}), conflict=frozenset({"ConditionalCheckFailedException"})
        ),
    ):
        raise error
    assert caught.value.__cause__ is error
    assert "get s3://b/k" in str(caught.value)


@pytest.mark.parametrize(
    "error", [client_error("AccessDenied", 403), ParamValidationError(report="Bucket is required")], ids=str
)
def test_other_failures_propagate_unchanged(error: Exception) -> None:
    with pytest.raises(type(error)) as caught, aws_errors("put s3://b/k"):
        raise error
    assert caught.value is error


def test_a_code_is_only_not_found_where_the_caller_says_so() -> None:
    with pytest.raises(ClientError), aws_errors("query table"):
        raise client_error("NoSuchKey", 404)
