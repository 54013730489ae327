"""What the calls of the deploy path act on, for the local cloud's IAM enforcement (slipway_local.iam): moto
authorizes CloudFormation and ECR calls against ``*``, where IAM names the stack (and, for a template that declares
a transform, the transform too) or the repository. The deployment role grants them on exactly those ARNs, so
without this every `sam deploy` call would be refused locally and allowed on AWS."""

from __future__ import annotations

from typing import Any

__all__ = ["cloudformation_requests", "ecr_requests"]

_STACK_ACTIONS_WITH_TEMPLATE = frozenset({"CreateChangeSet", "CreateStack", "UpdateStack"})


def _param(response: Any, name: str) -> str | None:
    values = response.querystring.get(name)
    return str(values[0]) if values else None


def _stack_arn(response: Any, name: str) -> str:
    """The stack's ARN (its id) when it exists; a new stack's ARN has an id IAM cannot know yet: ``…/new``."""
    from moto.cloudformation.models import cloudformation_backends

    if name.startswith("arn:"):
        return name
    backend = cloudformation_backends[response.current_account][response.region]
    for stack in backend.stacks.values():
        if stack.name == name:
            return str(stack.stack_id)
    return f"arn:aws:cloudformation:{response.region}:{response.current_account}:stack/{name}/new"


def _template_text(response: Any) -> str:
    body = _param(response, "TemplateBody")
    if body is not None:
        return body
    url = _param(response, "TemplateURL")
    if url is None:
        return ""
    from moto.s3.exceptions import S3ClientError

    from slipway_local.cfn_deploy import read_template_url

    try:
        return read_template_url(url, response.current_account, "aws")
    except (S3ClientError, ValueError, KeyError):  # an unreadable URL fails the call itself, with moto's own error
        return ""


def cloudformation_requests(response: Any, action: str) -> list[tuple[str, str]]:
    """(IAM action, resource) pairs of a CloudFormation call."""
    stack = _param(response, "StackName")
    if action == "ValidateTemplate" or (stack is None and action in ("DescribeStacks", "GetTemplateSummary")):
        return [(f"cloudformation:{action}", "*")]
    target = _stack_arn(response, stack) if stack else "*"
    found = [(f"cloudformation:{action}", target)]
    if action in _STACK_ACTIONS_WITH_TEMPLATE:
        from slipway_local.cfn_deploy import SERVERLESS

        if SERVERLESS in _template_text(response):
            transform = f"arn:aws:cloudformation:{response.region}:aws:transform/{SERVERLESS.removeprefix('AWS::')}"
            found.append((f"cloudformation:{action}", transform))
    return found


def ecr_requests(body: dict[str, Any], action: str, region: str, account: str) -> list[tuple[str, str]]:
    """(IAM action, resource) of an ECR call: its repository, or ``*`` (GetAuthorizationToken, listings)."""
    name = body.get("repositoryName")
    if not name:
        return [(f"ecr:{action}", "*")]
    registry = body.get("registryId") or account
    return [(f"ecr:{action}", f"arn:aws:ecr:{region}:{registry}:repository/{name}")]
