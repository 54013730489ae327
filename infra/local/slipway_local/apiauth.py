"""IAM authorization of HTTP API routes (``DefaultAuthorizer: AWS_IAM``), as API Gateway does it:
the request must be SigV4-signed for ``execute-api`` with keys of a principal of the API's account
whose policies allow ``execute-api:Invoke`` on the route's ARN; the caller's identity reaches the
function as ``requestContext.authorizer.iam``. Signature and policy checks are moto's own
(``moto.iam.access_control``), against the keys and policies in moto's IAM and STS.

Not checked: the signing time (AWS refuses a signature over 5 minutes old), the credential scope's
region and date, SigV4A, presigned query strings, and resource-side conditions."""

from __future__ import annotations

from typing import Any

from slipway_local.httpapi import Request

FORBIDDEN = (403, {"message": "Forbidden"})
_INVALID_TOKEN = "The security token included in the request is invalid."
_BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details."
)
_CANONICAL = {
    "authorization": "Authorization",
    "x-amz-date": "X-Amz-Date",
    "x-amz-security-token": "X-Amz-Security-Token",
}


class Denied(Exception):
    """API Gateway's 403 for this request."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.response = (403, {"message": message})


def route_arn(region: str, account_id: str, api_id: str, method: str, path: str) -> str:
    """The execute-api resource an IAM policy names for this request (stage $default)."""
    return f"arn:aws:execute-api:{region}:{account_id}:{api_id}/$default/{method}{path}"


def authorize_iam(request: Request, *, region: str, account_id: str, api_id: str) -> dict[str, Any]:
    """The ``iam`` block of the event's authorizer context, or Denied."""
    from moto.iam.access_control import IAMRequest
    from moto.utilities.utils import get_partition

    headers: dict[str, str] = {}
    for name, value in request.headers:
        headers[_CANONICAL.get(name.lower(), name)] = value
    authorization = headers.get("Authorization", "")
    if not authorization.startswith("AWS4-HMAC-SHA256 ") or "X-Amz-Date" not in headers:
        raise Denied(FORBIDDEN[1]["message"])
    scope = authorization.partition("Credential=")[2].partition(",")[0].split("/")
    if len(scope) != 5 or scope[3] != "execute-api":
        raise Denied(_INVALID_TOKEN)
    path = request.target.partition("?")[0]
    try:
        checked = IAMRequest(
            account_id=account_id,
            method=request.method,
            path=request.target,
            data={},
            body=request.body,
            headers=headers,
            action="Invoke",
        )
    except Exception as exc:
        raise Denied(_INVALID_TOKEN) from exc
    try:
        checked.check_signature()
    except Exception as exc:
        raise Denied(_BAD_SIGNATURE) from exc
    identity = _identity(scope[0], account_id, get_partition(region))
    resource = route_arn(region, account_id, api_id, request.method, path)
    try:
        checked.check_action_permitted(resource)
    except Exception as exc:
        raise Denied(
            f"User: {identity['userArn']} is not authorized to perform: execute-api:Invoke on resource: {resource}"
        ) from exc
    return identity


def _identity(access_key: str, account_id: str, partition: str) -> dict[str, Any]:
    """Who signed, as API Gateway describes an IAM caller."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    caller_id, arn = access_key, ""
    for user in iam_backends[account_id][partition].users.values():
        if any(key.access_key_id == access_key for key in user.access_keys):
            caller_id, arn = user.id, user.arn
            break
    else:
        for role in sts_backends[account_id][partition].assumed_roles:
            if role.access_key_id == access_key:
                caller_id, arn = role.user_id, role.arn
                break
    return {
        "accessKey": access_key,
        "accountId": account_id,
        "callerId": caller_id,
        "cognitoIdentity": None,
        "principalOrgId": None,
        "userArn": arn,
        "userId": caller_id,
    }
