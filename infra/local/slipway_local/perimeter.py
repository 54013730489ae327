"""Resource policies between the three accounts, which moto does not evaluate unless IAM enforcement is on
(and then without an account boundary): the local cloud evaluates them itself, for every S3 request and
every cross-account Lambda invoke, with or without enforcement.

- S3: a bucket's policy (as the template's ``AWS::S3::BucketPolicy`` put it, slipway_local.resources) is
  evaluated against the caller. An explicit Deny refuses; a principal of another account than the bucket's
  needs an Allow that names it (its account root, or its role, with the policy's conditions) — as in AWS,
  where a cross-account request needs the resource policy's grant. A caller of the bucket's own account is
  refused only by a Deny (identity policies are moto's business, with enforcement on). ``CopyObject`` is
  checked twice: PutObject on the target, GetObject on the source.
- Lambda: an invoke whose function ARN names another account runs there (moto would look in the caller's
  account), if the function's resource policy (``AWS::Lambda::Permission``) allows the caller's account or
  role; AccessDeniedException otherwise.

The caller is the principal the local cloud says acts (the ``x-slipway-principal`` header: a function's
execution role, a state machine's role), else the IAM user or assumed role of the request's access key,
else the account's root. Supported in policies: Principal ``*`` / ``{"AWS": account, root or ARN}``, Action,
NotAction, Resource, NotResource with wildcards, and the condition operators and keys in CONDITIONS and
CONTEXT_KEYS (anything else is refused when the policy is put, never ignored). ``aws:SecureTransport`` is
true for https and for the local server on the loopback interface (plain HTTP on 127.0.0.1 only)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from slipway_local import policy
from slipway_local.routing import PRINCIPAL_HEADER

# S3 API operations as moto names them → the IAM action a bucket policy names.
S3_ACTIONS = {
    "ListObjects": "s3:ListBucket",
    "ListObjectsV2": "s3:ListBucket",
    "HeadBucket": "s3:ListBucket",
    "ListObjectVersions": "s3:ListBucketVersions",
    "ListBucketVersions": "s3:ListBucketVersions",
    "DeleteObjects": "s3:DeleteObject",
    "CopyObject": "s3:PutObject",
    "HeadObject": "s3:GetObject",
}
# Request headers a bucket policy may test, as their condition keys.
S3_HEADER_KEYS = {
    "x-amz-server-side-encryption": "s3:x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id": "s3:x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-acl": "s3:x-amz-acl",
}
CONTEXT_KEYS = frozenset(
    {
        "aws:SecureTransport",
        "aws:PrincipalAccount",
        "aws:PrincipalArn",
        "aws:PrincipalIsAWSService",
        "aws:SourceArn",  # only service principals (CloudTrail) send it: never locally
        "s3:prefix",  # a listing's prefix (ListObjects, ListObjectsV2)
        *S3_HEADER_KEYS.values(),
    }
)
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
PolicyError = policy.PolicyError


@dataclass(frozen=True)
class Caller:
    account: str
    arn: str  # aws:PrincipalArn: the role (not the session) for an assumed role
    secure: bool
    extra: tuple[tuple[str, str], ...] = ()  # request keys (S3 encryption headers)

    @property
    def context(self) -> dict[str, str]:
        return {
            "aws:PrincipalAccount": self.account,
            "aws:PrincipalArn": self.arn,
            "aws:SecureTransport": "true" if self.secure else "false",
            **dict(self.extra),
        }

    @property
    def principal(self) -> policy.Principal:
        return policy.Principal(self.account, self.arn)


def validate_policy(document: dict[str, Any]) -> None:
    """Refuse a resource policy the evaluator would get wrong (an unknown condition operator or key)."""
    policy.check(document)
    for statement in policy.statements(document):
        for pairs in (statement.get("Condition") or {}).values():
            unknown = set(pairs) - CONTEXT_KEYS
            if unknown:
                raise PolicyError(f"condition keys {sorted(unknown)} are not realised by the local cloud")


def decide(document: dict[str, Any] | None, action: str, resource: str, caller: Caller, owner: str) -> str | None:
    """None when allowed; otherwise why not."""
    verdict = policy.evaluate([document] if document else [], action, resource, caller.context, caller.principal)
    if verdict.denied_by:
        return f"explicit deny ({', '.join(verdict.denied_by)})"
    if caller.account != owner and not verdict.allowed_by:
        return f"no statement of the resource policy allows {caller.arn} of account {caller.account}"
    return None


# ---------------------------------------------------------------- who is calling


def caller_of(headers: Any, account: str, url: str) -> Caller:
    parsed = urlparse(url)
    secure = parsed.scheme == "https" or (parsed.hostname or "") in LOOPBACK
    extra = tuple((key, str(headers.get(h))) for h, key in S3_HEADER_KEYS.items() if headers.get(h) is not None)
    principal = headers.get(PRINCIPAL_HEADER)
    if principal:
        return Caller(account, principal, secure, extra)
    match = re.search(r"Credential=([^/,\s]+)/", headers.get("Authorization", "") or "")
    arn = _principal_of_key(account, match.group(1)) if match else None
    return Caller(account, arn or f"arn:aws:iam::{account}:root", secure, extra)


def _principal_of_key(account: str, access_key: str) -> str | None:
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    for role in sts_backends[account]["aws"].assumed_roles:
        if role.access_key_id == access_key:
            return str(role.role_arn)
    for user in iam_backends[account]["aws"].users.values():
        if any(k.access_key_id == access_key for k in user.access_keys):
            return str(user.arn)
    return None


# ---------------------------------------------------------------- S3


def _s3_action(name: str) -> str:
    return S3_ACTIONS.get(name, f"s3:{name}")


def _bucket_policy(bucket_name: str) -> tuple[str, dict[str, Any] | None] | None:
    """(owner account, policy) of a bucket, or None when there is no such bucket."""
    from moto.s3.models import s3_backends

    located = s3_backends.bucket_accounts.get(bucket_name)
    if located is None:
        return None
    partition, account = located
    bucket = s3_backends[account][partition].buckets.get(bucket_name)
    if bucket is None or not bucket.policy:
        return account, None
    return account, json.loads(bucket.policy)


def _check_s3(response: Any, bucket_name: str | None, key_name: str | None) -> None:
    if not bucket_name:
        return
    found = _bucket_policy(bucket_name)
    if found is None:
        return
    owner, policy = found
    caller = caller_of(response.headers, response.current_account, response.uri)
    action = _s3_action(str(response.data.get("Action", "")))
    if action == "s3:ListBucket":
        prefix = parse_qs(urlparse(response.uri).query).get("prefix", [""])[0]
        caller = replace(caller, extra=(*caller.extra, ("s3:prefix", prefix)))
    resource = f"arn:aws:s3:::{bucket_name}" + (f"/{key_name}" if key_name else "")
    _refuse_if(decide(policy, action, resource, caller, owner), action, resource, caller)
    copy_source = response.headers.get("x-amz-copy-source")
    if copy_source and key_name:
        source = unquote(copy_source).lstrip("/")
        source, _, query = source.partition("?")
        source_bucket, _, source_key = source.partition("/")
        origin = _bucket_policy(source_bucket)
        if origin is not None:
            read = "s3:GetObjectVersion" if "versionId=" in query else "s3:GetObject"
            resource = f"arn:aws:s3:::{source_bucket}/{source_key}"
            _refuse_if(decide(origin[1], read, resource, caller, origin[0]), read, resource, caller)


def _refuse_if(why: str | None, action: str, resource: str, caller: Caller) -> None:
    if why is None:
        return
    from moto.s3.exceptions import S3ClientError

    raise S3ClientError(
        "AccessDenied",
        f"User: {caller.arn} is not authorized to perform: {action} on resource: {resource} because {why}",
    )


def install() -> None:
    """Evaluate bucket policies on every S3 request and route cross-account Lambda invokes (idempotent)."""
    from moto.awslambda.responses import LambdaResponse
    from moto.s3.responses import S3Response

    if getattr(S3Response, "_slipway_perimeter", False):
        return
    original = S3Response._authenticate_and_authorize_s3_action

    def authorize(self: Any, bucket_name: str | None = None, key_name: str | None = None) -> None:
        original(self, bucket_name=bucket_name, key_name=key_name)
        _check_s3(self, bucket_name, key_name)

    S3Response._authenticate_and_authorize_s3_action = authorize  # type: ignore[method-assign]
    S3Response._slipway_perimeter = True  # type: ignore[attr-defined]

    # moto's own check of a bucket policy (object GET/PUT/DELETE) ignores principals and conditions: the
    # TLS-only Deny would refuse every request. The evaluation above replaces it.
    from moto.iam.access_control import PermissionResult
    from moto.s3.models import FakeBucket

    FakeBucket.get_permission = lambda self, action, resource: PermissionResult.NEUTRAL  # type: ignore[method-assign]

    invoke = LambdaResponse.invoke

    def invoke_across_accounts(self: Any) -> Any:
        function = unquote(self.path.rsplit("/", 2)[-2])
        if function.startswith("arn:"):
            owner = function.split(":")[4]
            if owner != self.current_account:
                _check_lambda(self, function, owner)
                self.current_account = owner  # the function runs in its own account, as its own role
        return invoke(self)

    LambdaResponse.invoke = invoke_across_accounts  # type: ignore[method-assign]


def _check_lambda(response: Any, function_arn: str, owner: str) -> None:
    from moto.awslambda.exceptions import LambdaClientError
    from moto.awslambda.models import lambda_backends

    region = function_arn.split(":")[3]
    fn = lambda_backends[owner][region].get_function(function_arn)
    caller = caller_of(response.headers, response.current_account, response.uri)
    statements = []
    for statement in fn.policy.statements:
        principal = statement.get("Principal")
        if isinstance(principal, dict) and "AWS" in principal:
            statements.append({"Effect": statement.get("Effect", "Allow"), "Principal": principal, "Action": "*"})
        elif isinstance(principal, str) and principal != "*" and (principal.isdigit() or principal.startswith("arn:")):
            # an account id, or an IAM role or user ARN (moto keeps a role ARN principal as a bare string)
            statements.append({"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "*"})
    why = decide({"Statement": statements}, "lambda:InvokeFunction", function_arn, caller, owner)
    if why is not None:
        raise LambdaClientError(
            "AccessDeniedException",
            f"User: {caller.arn} is not authorized to perform: lambda:InvokeFunction on resource: {function_arn} "
            f"because {why}",
        )
