"""IAM authorization of HTTP API routes (``DefaultAuthorizer: AWS_IAM``), as API Gateway does it:
the request must be SigV4-signed for ``execute-api`` with keys of a principal of the API's account
whose policies allow ``execute-api:Invoke`` on the route's ARN; the caller's identity reaches the
function as ``requestContext.authorizer.iam``. Keys and policies are moto's (IAM users' access
keys, STS assumed-role keys); policies are evaluated as the local cloud's IAM enforcement does (slipway_local.iam:
identity policies, permission boundary, conditions), whether enforcement is on or not.

The signature is verified here (canonical request as botocore and curl build it) rather than by
moto's ``IAMRequest``, which costs ~0.3 ms a request through botocore's request objects.

Not checked: the signing time (AWS refuses a signature over 5 minutes old), the credential scope's
region and date, SigV4A, presigned query strings, resource-side conditions."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from botocore.utils import normalize_url_path

from slipway_local import iam
from slipway_local.httpapi import Request

FORBIDDEN = "Forbidden"
INVALID_TOKEN = "The security token included in the request is invalid."
BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details."
)


class Denied(Exception):
    """API Gateway's 403 for this request."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.response = (403, {"message": message})


@dataclass(frozen=True)
class _Authorization:
    access_key: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def _parse(header: str) -> _Authorization:
    algorithm, _, rest = header.partition(" ")
    if algorithm != "AWS4-HMAC-SHA256":
        raise Denied(FORBIDDEN)
    fields = dict(part.strip().partition("=")[::2] for part in rest.split(","))
    scope = fields.get("Credential", "").split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or "SignedHeaders" not in fields or "Signature" not in fields:
        raise Denied(INVALID_TOKEN)
    return _Authorization(
        scope[0], scope[1], scope[2], scope[3], tuple(fields["SignedHeaders"].split(";")), fields["Signature"]
    )


def route_arn(region: str, account_id: str, api_id: str, method: str, path: str) -> str:
    """The execute-api resource an IAM policy names for this request (stage $default)."""
    return f"arn:aws:execute-api:{region}:{account_id}:{api_id}/$default/{method}{path}"


@lru_cache(maxsize=256)
def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _expected_signature(request: Request, auth: _Authorization, secret: str, amz_date: str) -> str:
    headers: dict[str, list[str]] = {}
    for name, value in request.headers:
        headers.setdefault(name.lower(), []).append(" ".join(value.split()))
    path, _, query = request.target.partition("?")
    pairs = sorted(pair.partition("=")[::2] for pair in query.split("&")) if query else []
    body_hash = hashlib.sha256(request.body).hexdigest()
    canonical = "\n".join(
        [
            request.method.upper(),
            quote(normalize_url_path(path), safe="/~"),
            "&".join(f"{k}={v}" for k, v in pairs),
            "".join(f"{name}:{','.join(headers.get(name, []))}\n" for name in auth.signed_headers),
            ";".join(auth.signed_headers),
            headers.get("x-amz-content-sha256", [body_hash])[0],
        ]
    )
    scope = f"{auth.date}/{auth.region}/{auth.service}/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = _signing_key(secret, auth.date, auth.region, auth.service)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def authorize_iam(request: Request, *, region: str, account_id: str, api_id: str) -> dict[str, Any]:
    """The ``iam`` block of the event's authorizer context, or Denied."""
    from moto.iam.access_control import CreateAccessKeyFailure, create_access_key
    from moto.utilities.utils import get_partition

    values = {name.lower(): value for name, value in request.headers}
    if "authorization" not in values or "x-amz-date" not in values:
        raise Denied(FORBIDDEN)
    auth = _parse(values["authorization"])
    if auth.service != "execute-api" or "host" not in auth.signed_headers:
        raise Denied(INVALID_TOKEN)
    token = {"X-Amz-Security-Token": values["x-amz-security-token"]} if "x-amz-security-token" in values else {}
    partition = get_partition(region)
    try:
        key = create_access_key(account_id, partition, auth.access_key, token)
    except CreateAccessKeyFailure:
        raise Denied(INVALID_TOKEN) from None
    credentials = key.create_credentials()
    expected = _expected_signature(request, auth, credentials.secret_key, values["x-amz-date"])
    if not hmac.compare_digest(expected, auth.signature) or (
        "x-amz-content-sha256" in values and values["x-amz-content-sha256"] != hashlib.sha256(request.body).hexdigest()
    ):
        raise Denied(BAD_SIGNATURE)

    resource = route_arn(region, account_id, api_id, request.method, request.target.partition("?")[0])
    if iam.decide(iam.identity_of(key), iam.Request("execute-api:Invoke", resource, {})) is not None:
        raise Denied(f"User: {key.arn} is not authorized to perform: execute-api:Invoke on resource: {resource}")
    return _identity(auth.access_key, account_id, partition, key.arn)


def _identity(access_key: str, account_id: str, partition: str, arn: str) -> dict[str, Any]:
    """Who signed, as API Gateway describes an IAM caller."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    caller_id = access_key
    if ":assumed-role/" in arn:
        for role in sts_backends[account_id][partition].assumed_roles:
            if role.access_key_id == access_key:
                caller_id = role.user_id
    else:
        user = iam_backends[account_id][partition].users.get(arn.rsplit("/", 1)[1])
        caller_id = user.id if user is not None else access_key
    return {
        "accessKey": access_key,
        "accountId": account_id,
        "callerId": caller_id,
        "cognitoIdentity": None,
        "principalOrgId": None,
        "userArn": arn,
        "userId": caller_id,
    }
