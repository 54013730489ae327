"""IAM enforcement in the local cloud: a request signed with an IAM user's or an assumed role's keys is
authenticated by moto (the key exists, the SigV4 signature matches) and authorized here, from the
principal's deployed policies: its identity policies (inline and managed), its permission boundary, a
role's trust policy on ``sts:AssumeRole``, with the request's real resource ARN and condition keys
(``dynamodb:LeadingKeys``, ``dynamodb:Attributes``, the S3 encryption headers, ``s3:ResourceAccount``,
``events:TargetArn``, ``iam:PermissionsBoundary``, ``iam:PolicyARN``, ``aws:PrincipalArn``…).
Resource policies (bucket policies, Lambda permissions) stay slipway_local.perimeter's business: a
request passes only if both agree, as on AWS.

moto's own check is computed beside ours for every decision and kept in DECISIONS, so a test can tell
the cells moto would have decided alike (S3, where moto sees the object ARN) from those only this
evaluation decides (DynamoDB, Step Functions and Lambda, which moto checks against the resource ``*``;
any policy with a Condition, which moto reads as a Deny; boundaries and trust policies, which it skips).

The local cloud's own machinery (deployment, functions acting as their role, the Step Functions
interpreter) marks its requests with the routing header (slipway_local.routing) and is not checked here:
functions' execution-role policies are not enforced (bucket policies still are, by the perimeter).
Enforcement is on between ``enable()`` and ``disable()`` (``slipway local up`` and the permission tests)."""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse

from slipway_local import policy
from slipway_local.routing import ACCOUNT_HEADER

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_TRANSACT = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}
_UPDATE_WORDS = frozenset({"SET", "REMOVE", "ADD", "DELETE", "if_not_exists", "list_append", "AND", "OR", "NOT"})


@dataclass(frozen=True)
class Decision:
    """One authorization: who, what, on what; ours and what moto's own check would have said."""

    principal: str
    action: str
    resource: str
    allowed: bool
    moto_allowed: bool | None  # None: moto does not check this call (Lambda Invoke)
    why: str


DECISIONS: deque[Decision] = deque(maxlen=20000)
# Principals (role or user ARNs) whose refusals are recorded in DECISIONS but not raised: to learn everything a job
# would be refused in one run (slipway_local.ci_job) instead of its first refusal.
AUDITED: set[str] = set()
_lock = threading.Lock()


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    context: dict[str, str | list[str]]


# ---------------------------------------------------------------- switching it on


def enable() -> None:
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    install()
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ActionAuthenticatorMixin.request_count = 0


def disable() -> None:
    from moto import settings

    settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")


def enabled() -> bool:
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    return bool(ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT)


def install() -> None:
    """Replace moto's authorization with this module's (idempotent)."""
    from moto.core.authorization import ActionAuthenticatorMixin

    if getattr(ActionAuthenticatorMixin, "_slipway_iam", False):
        return

    def authorize(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        if not enabled():
            return
        headers = self.headers
        if headers.get(ACCOUNT_HEADER) or headers.get("X-Amz-Target") in ActionAuthenticatorMixin.PUBLIC_OPERATIONS:
            return  # the local cloud's own machinery (routing header), or a public operation
        parsed = urlparse(self.uri)
        path = self.raw_path + (f"?{parsed.query}" if parsed.query else "")
        iam_request = iam_request_cls(
            account_id=self.current_account,
            method=self.method,
            path=path,
            data=self.data,
            body=self.raw_body,
            headers=headers,
            action=self._get_action(),
        )
        iam_request.check_signature()
        _authorize(self, iam_request, resource)

    ActionAuthenticatorMixin._authenticate_and_authorize_action = authorize  # type: ignore[method-assign]
    ActionAuthenticatorMixin._slipway_iam = True  # type: ignore[attr-defined]


# ---------------------------------------------------------------- who asks, with which policies


@dataclass(frozen=True)
class Identity:
    principal: policy.Principal
    arn: str  # the caller as AWS names it in an error (a session ARN for an assumed role)
    documents: list[Any]
    boundary: Any | None


def _document(managed: Any) -> str:
    return str(next(v for v in managed.versions if v.is_default).document)


def _managed(backend: Any, arn: str) -> Any:
    return backend.managed_policies.get(arn)


def identity_of(access_key: Any) -> Identity:
    from moto.iam.access_control import AssumedRoleAccessKey

    backend = access_key.backend
    if isinstance(access_key, AssumedRoleAccessKey):
        holder = backend.get_role(access_key._owner_role_name)
    else:
        holder = backend.get_user(access_key._owner_user_name)
    return _identity(backend, holder, access_key.account_id, access_key.arn)


def identity_of_role(role_arn: str) -> Identity:
    """A role as a service acting as it sees it (EventBridge delivering a rule's target with its RoleArn)."""
    from moto.iam.models import iam_backends

    account = role_arn.split(":")[4]
    backend = iam_backends[account]["aws"]
    return _identity(backend, backend.get_role_by_arn(role_arn), account, role_arn)


def _identity(backend: Any, holder: Any, account: str, session_arn: str) -> Identity:
    """The holder's (a role's or user's) inline and managed policies and its permission boundary."""
    arn = str(holder.arn)
    documents: list[Any] = list(holder.policies.values())
    documents += [_document(p) for p in holder.managed_policies.values()]
    boundary_arn = getattr(holder, "permissions_boundary_arn", None)
    boundary = None
    if boundary_arn:
        managed = _managed(backend, boundary_arn)
        boundary = _document(managed) if managed is not None else '{"Statement": []}'  # unknown: allows nothing
    principal = policy.Principal(account, arn, aliases=frozenset({session_arn}))
    return Identity(principal, session_arn, documents, boundary)


def decide(identity: Identity, request: Request) -> str | None:
    """None when the principal's own policies allow the request; otherwise why not."""
    context: dict[str, str | list[str]] = {
        "aws:PrincipalArn": identity.principal.arn,
        "aws:PrincipalAccount": identity.principal.account,
        **request.context,
    }
    if ":user/" in identity.principal.arn:  # an IAM user's name (a team role's trust pins the session name to it)
        context["aws:username"] = identity.principal.arn.rsplit("/", 1)[1]
    verdict = policy.evaluate(identity.documents, request.action, request.resource, context)
    if verdict.denied_by:
        return f"an identity policy denies it ({', '.join(verdict.denied_by)})"
    if not verdict.allowed:
        return "no identity-based policy allows it"
    if identity.boundary is not None:
        bounded = policy.evaluate([identity.boundary], request.action, request.resource, context)
        if bounded.denied_by:
            return f"the permissions boundary denies it ({', '.join(bounded.denied_by)})"
        if not bounded.allowed:
            return "the permissions boundary does not allow it"
    if request.action == "sts:AssumeRole":
        return _trusts(identity, request.resource, context)
    return None


def _trusts(identity: Identity, role_arn: str, context: dict[str, str | list[str]]) -> str | None:
    from moto.iam.models import iam_backends

    account = role_arn.split(":")[4]
    from moto.iam.exceptions import NotFoundException

    try:
        role = iam_backends[account]["aws"].get_role_by_arn(role_arn)
    except NotFoundException:
        return f"no role {role_arn}"
    verdict = policy.evaluate(
        [role.assume_role_policy_document], "sts:AssumeRole", role_arn, context, identity.principal
    )
    return None if verdict.allowed else f"the trust policy of {role_arn} does not allow it"


# ---------------------------------------------------------------- what the request is


def _secure(response: Any) -> str:
    parsed = urlparse(response.uri)
    return "true" if parsed.scheme == "https" or (parsed.hostname or "") in LOOPBACK else "false"


def _body(response: Any) -> dict[str, Any]:
    if isinstance(response.body, dict):  # moto's DynamoDB handler parses its body before authorizing
        return response.body
    try:
        loaded = json.loads(response.body or "{}")
    except (TypeError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def requests_of(response: Any, service: str, action: str, resource: str) -> list[Request]:
    """The IAM actions a call needs, each on its resource with its condition keys."""
    secure: dict[str, str | list[str]] = {"aws:SecureTransport": _secure(response)}
    region, account = response.region, response.current_account
    if service == "s3":
        return _s3_requests(response, resource, secure)
    if service == "dynamodb":
        return _dynamodb_requests(_body(response), action, region, account, secure)
    if service == "states":
        body = _body(response)
        target = body.get("stateMachineArn") or body.get("executionArn") or "*"
        return [Request(f"states:{action}", str(target), secure)]
    if service == "lambda":
        return [_lambda_request(response, action, region, account, secure)]
    if service == "sts" and action == "AssumeRole":
        query = response.querystring
        context = dict(secure)
        if query.get("RoleSessionName"):
            context["sts:RoleSessionName"] = str(query["RoleSessionName"][0])
        return [Request("sts:AssumeRole", str(query.get("RoleArn", ["*"])[0]), context)]
    if service == "events":
        return _events_requests(_body(response), action, region, account, secure)
    if service == "iam":
        return _iam_requests(response.querystring, action, account, secure)
    if service == "cloudformation":  # the stack (and a declared transform) the call names
        from slipway_local.deploy_requests import cloudformation_requests

        return [Request(a, r, secure) for a, r in cloudformation_requests(response, action)]
    if service == "ecr":
        from slipway_local.deploy_requests import ecr_requests

        return [Request(a, r, secure) for a, r in ecr_requests(_body(response), action, region, account)]
    return [Request(f"{service}:{action}", resource, secure)]


def _events_requests(
    body: dict[str, Any], action: str, region: str, account: str, secure: dict[str, str | list[str]]
) -> list[Request]:
    """A rule's calls name the rule (``Name``, or ``Rule`` for its targets); a target with a role makes the
    caller pass that role to EventBridge (``iam:PassRole``, which moto never checks)."""
    name = body.get("Name") or body.get("Rule")
    resource = f"arn:aws:events:{region}:{account}:rule/{name}" if name else "*"
    requests = [Request(f"events:{action}", resource, secure)]
    if action == "PutTargets":
        targets = [t for t in body.get("Targets", []) if isinstance(t, dict)]
        requests = [Request(f"events:{action}", resource, {**secure, "events:TargetArn": [t["Arn"] for t in targets]})]
        roles = {t["RoleArn"] for t in targets if t.get("RoleArn")}
        passed: dict[str, str | list[str]] = {**secure, "iam:PassedToService": "events.amazonaws.com"}
        requests += [Request("iam:PassRole", str(role), passed) for role in sorted(roles)]
    return requests


_ROLE_POLICY_ACTIONS = frozenset(
    {
        "PutRolePolicy",
        "DeleteRolePolicy",
        "AttachRolePolicy",
        "DetachRolePolicy",
        "PutRolePermissionsBoundary",
        "DeleteRolePermissionsBoundary",
    }
)


def _iam_requests(
    query: dict[str, list[str]], action: str, account: str, secure: dict[str, str | list[str]]
) -> list[Request]:
    """A role's or a policy's calls name it; ``iam:PermissionsBoundary`` is the boundary a role is created or left
    with (the one asked for, else the role's own), ``iam:PolicyARN`` the policy attached or detached."""
    from moto.iam.exceptions import NotFoundException
    from moto.iam.models import iam_backends

    def param(name: str) -> str | None:
        return query.get(name, [None])[0]

    context: dict[str, str | list[str]] = dict(secure)
    role, policy_arn = param("RoleName"), param("PolicyArn")
    if role:
        boundary = param("PermissionsBoundary") if action in ("CreateRole", "PutRolePermissionsBoundary") else None
        if boundary is None and action in _ROLE_POLICY_ACTIONS:
            try:
                boundary = getattr(iam_backends[account]["aws"].get_role(role), "permissions_boundary_arn", None)
            except NotFoundException:
                boundary = None
        if boundary:
            context["iam:PermissionsBoundary"] = boundary
        if policy_arn and action in ("AttachRolePolicy", "DetachRolePolicy"):
            context["iam:PolicyARN"] = policy_arn
        return [Request(f"iam:{action}", f"arn:aws:iam::{account}:role/{role}", context)]
    if policy_arn:
        return [Request(f"iam:{action}", policy_arn, context)]
    name = param("PolicyName") if action == "CreatePolicy" else None
    target = f"arn:aws:iam::{account}:policy/{name}" if name else "*"
    return [Request(f"iam:{action}", target, context)]


def _lambda_request(
    response: Any, action: str, region: str, account: str, secure: dict[str, str | list[str]]
) -> Request:
    parts = unquote(urlparse(response.uri).path).split("/")
    name = parts[parts.index("functions") + 1] if "functions" in parts and parts[-1] != "functions" else None
    arn = "*"
    if name:
        arn = name if name.startswith("arn:") else f"arn:aws:lambda:{region}:{account}:function:{name}"
    return Request("lambda:InvokeFunction" if action == "Invoke" else f"lambda:{action}", arn, secure)


def _s3_requests(response: Any, resource: str, secure: dict[str, str | list[str]]) -> list[Request]:
    from slipway_local.perimeter import S3_HEADER_KEYS, _s3_action

    name = str(response.data.get("Action", ""))
    context: dict[str, str | list[str]] = {**secure, **_bucket_owner(resource.removeprefix("arn:aws:s3:::"))}
    for header, key in S3_HEADER_KEYS.items():
        if response.headers.get(header) is not None:
            context[key] = str(response.headers.get(header))
    found = [Request(_s3_action(name), resource, context)]
    copy_source = response.headers.get("x-amz-copy-source")
    if copy_source:
        source, _, query = unquote(copy_source).lstrip("/").partition("?")
        read = "s3:GetObjectVersion" if "versionId=" in query else "s3:GetObject"
        found.append(Request(read, f"arn:aws:s3:::{source}", {**secure, **_bucket_owner(source)}))
    return found


def _bucket_owner(path: str) -> dict[str, str | list[str]]:
    """``s3:ResourceAccount``: the account that owns the bucket (of ``bucket`` or ``bucket/key``), when it exists."""
    from moto.s3.models import s3_backends

    located = s3_backends.bucket_accounts.get(path.split("/", 1)[0])
    return {"s3:ResourceAccount": located[1]} if located else {}


def _dynamodb_requests(
    body: dict[str, Any], action: str, region: str, account: str, secure: dict[str, str | list[str]]
) -> list[Request]:
    def table_arn(name: str, index: str | None = None) -> str:
        arn = f"arn:aws:dynamodb:{region}:{account}:table/{name}"
        return f"{arn}/index/{index}" if index else arn

    if action == "TransactWriteItems":
        found = []
        for entry in body.get("TransactItems", []):
            for kind, operation in entry.items():
                name = operation["TableName"]
                context = {**secure, **_item_keys(region, account, name, operation, _TRANSACT[kind])}
                found.append(Request(f"dynamodb:{_TRANSACT[kind]}", table_arn(name), context))
        return found
    if action == "TransactGetItems":
        return [
            Request("dynamodb:GetItem", table_arn(e["Get"]["TableName"]), dict(secure))
            for e in body.get("TransactItems", [])
        ]
    if action in ("BatchGetItem", "BatchWriteItem"):
        verb = "dynamodb:BatchGetItem" if action == "BatchGetItem" else "dynamodb:BatchWriteItem"
        return [Request(verb, table_arn(name), dict(secure)) for name in body.get("RequestItems", {})]
    name = body.get("TableName")
    if not name:
        return [Request(f"dynamodb:{action}", "*", dict(secure))]
    context = {**secure, **_item_keys(region, account, name, body, action)}
    return [Request(f"dynamodb:{action}", table_arn(name, body.get("IndexName")), context)]


def _item_keys(region: str, account: str, table: str, operation: dict[str, Any], action: str) -> dict[str, Any]:
    """dynamodb:LeadingKeys (the partition key values) and dynamodb:Attributes (the attributes written)."""
    from moto.dynamodb.exceptions import ResourceNotFoundException
    from moto.dynamodb.models import dynamodb_backends

    try:
        hash_key = dynamodb_backends[account][region].get_table(table).hash_key_attr
    except ResourceNotFoundException:
        return {}
    names = operation.get("ExpressionAttributeNames", {})
    values = operation.get("ExpressionAttributeValues", {})
    keys: dict[str, Any] = {}
    item = operation.get("Key") or operation.get("Item") or {}
    if hash_key in item:
        keys["dynamodb:LeadingKeys"] = [_scalar(item[hash_key])]
    elif action in ("Query",):
        for name, value in re.findall(r"(#?\w+)\s*=\s*(:\w+)", operation.get("KeyConditionExpression", "")):
            if names.get(name, name) == hash_key and value in values:
                keys["dynamodb:LeadingKeys"] = [_scalar(values[value])]
    if action == "PutItem":
        keys["dynamodb:Attributes"] = sorted(item)
    elif action == "UpdateItem":
        written = set(item)
        for token in re.findall(r"(?<![:\w#])#?[A-Za-z_]\w*", operation.get("UpdateExpression", "")):
            if token.startswith("#"):
                written.add(names.get(token, token))
            elif token not in _UPDATE_WORDS:
                written.add(token)
        keys["dynamodb:Attributes"] = sorted(written)
    return keys


def _scalar(value: dict[str, Any]) -> str:
    return str(next(iter(value.values())))


# ---------------------------------------------------------------- deciding


def _authorize(response: Any, iam_request: Any, resource: str) -> None:
    service, action = iam_request._service, iam_request._action.split(":", 1)[1]
    if iam_request._action == "sts:GetCallerIdentity":
        return
    identity = identity_of(iam_request._access_key)
    moto_allowed = _moto_verdict(identity, iam_request._action, resource)
    for request in requests_of(response, service, action, resource):
        why = decide(identity, request)
        with _lock:
            DECISIONS.append(
                Decision(identity.principal.arn, request.action, request.resource, why is None, moto_allowed, why or "")
            )
        if why is not None and identity.principal.arn not in AUDITED:
            _refuse(service, identity.arn, request, why)


def _moto_verdict(identity: Identity, action: str, resource: str) -> bool:
    """What moto's evaluator says of the same documents: its action name and resource (``*`` for most
    services), no boundary, Conditions read against no values. (Its own check of an assumed role cannot
    run at all: collecting the role's policies raises KeyError('policy_document') in moto 5.2.5.)"""
    from moto.iam.access_control import IAMPolicy, PermissionResult

    results = []
    for document in identity.documents:
        cleaned = json.dumps({"Statement": policy.statements(document)})
        try:
            results.append(IAMPolicy(cleaned).is_action_permitted(action, resource))
        except (KeyError, TypeError, AttributeError):  # a statement moto cannot read counts as no answer
            results.append(PermissionResult.NEUTRAL)
    return PermissionResult.DENIED not in results and PermissionResult.PERMITTED in results


def _refuse(service: str, caller: str, request: Request, why: str) -> None:
    message = (
        f"User: {caller} is not authorized to perform: {request.action} on resource: {request.resource} because {why}"
    )
    if service == "s3":
        from moto.s3.exceptions import S3ClientError

        raise S3ClientError("AccessDenied", message)
    if service == "lambda":
        from moto.awslambda.exceptions import LambdaClientError

        raise LambdaClientError("AccessDeniedException", message)
    from moto.core.exceptions import AccessDeniedError, JsonRESTError

    if service in ("dynamodb", "states"):
        raise JsonRESTError("AccessDeniedException", message)
    raise AccessDeniedError(caller, f"{request.action} on resource: {request.resource} because {why}")
