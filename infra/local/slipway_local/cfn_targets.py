"""On what a handler's action acts, as IAM evaluates it: the resource's own ARN for an action of its own service
(or the function, bucket, queue, bus or roles a dependent resource names), the ARN a property names for a role
passed, a code object, a KMS key, a layer or an image, and ``*`` for anything else. A list means one evaluation
each (each role a policy is attached to); an empty list means the handler has nothing to call it on (no role
passed, no code object, no key): the action is not needed."""

from __future__ import annotations

from typing import Any

from slipway_local.cfn_names import GENERATED, Names

__all__ = ["targets"]

Context = tuple[tuple[str, str], ...]
_SERVICE = {
    "Lambda": "lambda",
    "S3": "s3",
    "IAM": "iam",
    "DynamoDB": "dynamodb",
    "SQS": "sqs",
    "SNS": "sns",
    "StepFunctions": "states",
    "Logs": "logs",
    "Events": "events",
    "KinesisFirehose": "firehose",
    "CloudWatch": "cloudwatch",
    "KMS": "kms",
    "ApiGatewayV2": "apigateway",
    "ECR": "ecr",
}
# Whose key a resource's data is encrypted under (kms:* of a resource that is not the key)
_KEY = {
    "AWS::Lambda::Function": "KmsKeyArn",
    "AWS::DynamoDB::Table": "SSESpecification.KMSMasterKeyId",
    "AWS::StepFunctions::StateMachine": "EncryptionConfiguration.KmsKeyId",
    "AWS::KinesisFirehose::DeliveryStream": "DeliveryStreamEncryptionConfigurationInput.KeyARN",
    "AWS::SQS::Queue": "KmsMasterKeyId",
    "AWS::SNS::Topic": "KmsMasterKeyId",
    "AWS::Logs::LogGroup": "KmsKeyId",
}
# Where a resource's code or definition lies in S3: (bucket, key, version) properties
_CODE = {
    "AWS::Lambda::Function": ("Code.S3Bucket", "Code.S3Key", "Code.S3ObjectVersion"),
    "AWS::Lambda::LayerVersion": ("Content.S3Bucket", "Content.S3Key", "Content.S3ObjectVersion"),
    "AWS::StepFunctions::StateMachine": (
        "DefinitionS3Location.Bucket",
        "DefinitionS3Location.Key",
        "DefinitionS3Location.Version",
    ),
    "AWS::ApiGatewayV2::Api": ("BodyS3Location.Bucket", "BodyS3Location.Key", "BodyS3Location.Version"),
}
_PASSED_TO = {
    "AWS::Lambda::Function": "lambda.amazonaws.com",
    "AWS::StepFunctions::StateMachine": "states.amazonaws.com",
    "AWS::Events::Rule": "events.amazonaws.com",
    "AWS::KinesisFirehose::DeliveryStream": "firehose.amazonaws.com",
    "AWS::S3::Bucket": "s3.amazonaws.com",
    "AWS::SNS::Topic": "sns.amazonaws.com",
}
# List-style actions IAM evaluates on every resource of the type in the account
_ALL_OF_TYPE = {
    "logs:DescribeLogGroups": "arn:{p}:logs:{r}:{a}:log-group:*",
    "kms:CreateKey": "*",
    "kms:ListAliases": "*",
}


def _get(props: dict[str, Any], path: str) -> Any:
    node: Any = props
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _service(resource_type: str) -> str:
    return _SERVICE.get(resource_type.split("::")[1], resource_type.split("::")[1].lower())


def _role_arns(names: Names, resource_type: str, props: dict[str, Any]) -> list[str]:
    """The roles the resource passes to its service."""
    found: list[Any] = []
    if resource_type == "AWS::Lambda::Function":
        found = [props.get("Role")]
    elif resource_type == "AWS::StepFunctions::StateMachine":
        found = [props.get("RoleArn")]
    elif resource_type == "AWS::Events::Rule":
        found = [props.get("RoleArn"), *(t.get("RoleArn") for t in props.get("Targets") or [] if isinstance(t, dict))]
    elif resource_type == "AWS::KinesisFirehose::DeliveryStream":
        found = [
            _get(props, f"{destination}.RoleARN")
            for destination in props
            if destination.endswith("DestinationConfiguration")
        ]
    elif resource_type == "AWS::S3::Bucket":
        found = [_get(props, "ReplicationConfiguration.Role")]
    elif resource_type == "AWS::SNS::Topic":
        for logging in props.get("DeliveryStatusLogging") or []:
            found += [logging.get("SuccessFeedbackRoleArn"), logging.get("FailureFeedbackRoleArn")]
    return [names.value(r) or "*" for r in found if r is not None]


def _arn(names: Names, value: Any, of_name: str) -> str:
    """A property that names a resource by name or by ARN, as an ARN (``of_name``: the ARN of a bare ``{name}``);
    ``*`` when it cannot be known before the stack exists."""
    name = names.value(value)
    if name is None:
        return "*"
    if name.startswith("arn:"):
        return name
    return of_name.format(p=names.partition, r=names.region, a=names.account, name=name)


def _key_arn(names: Names, key: Any) -> str:
    if (names.value(key) or "").startswith("alias/"):
        return "*"
    return _arn(names, key, "arn:{p}:kms:{r}:{a}:key/{name}")


def _function_arn(names: Names, value: Any) -> str:
    return _arn(names, value, "arn:{p}:lambda:{r}:{a}:function:{name}")


def _role_arn(names: Names, value: Any) -> str:
    return _arn(names, value, "arn:{p}:iam::{a}:role/{name}")


def _referenced(value: Any) -> str | None:
    """The logical id a ``Ref`` or ``Fn::GetAtt`` names."""
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("Ref"), str):
        return str(value["Ref"])
    attribute = value.get("Fn::GetAtt")
    if isinstance(attribute, list) and attribute:
        return str(attribute[0])
    return attribute.split(".")[0] if isinstance(attribute, str) else None


def _tags(names: Names, logical_id: str | None, prefix: str) -> Context:
    """A template resource's tags as IAM condition keys (``aws:ResourceTag/<key>`` or ``aws:RequestTag/<key>``)."""
    resource = names.resources.get(logical_id) if logical_id else None
    tags = ((resource or {}).get("Properties") or {}).get("Tags") or []
    pairs = tags.items() if isinstance(tags, dict) else ((t.get("Key"), t.get("Value")) for t in tags)
    found = ((names.value(k), names.value(v)) for k, v in pairs)
    return tuple((f"{prefix}/{k}", v) for k, v in found if k is not None and v is not None)


def _boundary(names: Names, role: Any) -> Context:
    """``iam:PermissionsBoundary`` of a role the template creates (IAM checks it on the role's policy calls)."""
    logical_id = _referenced(role)
    resource = names.resources.get(logical_id) if logical_id else None
    boundary = names.value(((resource or {}).get("Properties") or {}).get("PermissionsBoundary"))
    return (("iam:PermissionsBoundary", boundary),) if boundary else ()


def _queue_arn(names: Names, value: Any) -> str:
    url = names.value(value)
    if url is None:
        return "*"
    account, name = url.rstrip("/").split("/")[-2:]
    return f"arn:{names.partition}:sqs:{names.region}:{account}:{name}"


def targets(
    names: Names, logical_id: str, resource: dict[str, Any], action: str, documented_on: str | None = None
) -> list[tuple[str, Context]]:
    """(resource ARN, condition keys) pairs the action is evaluated on."""
    kind = resource["Type"]
    props = resource.get("Properties") or {}
    service = action.partition(":")[0]
    p, r, a = names.partition, names.region, names.account
    if documented_on == "*":
        return [("*", ())]
    if documented_on == "image":
        uri = names.value(_get(props, "Code.ImageUri"))
        if uri is None or ".dkr.ecr." not in uri:
            return [("*", ())]
        host, _, path = uri.partition("/")
        repository = path.split("@")[0].split(":")[0]
        return [(f"arn:{p}:ecr:{host.split('.')[3]}:{host.split('.')[0]}:repository/{repository}", ())]
    if action == "kms:CreateKey" and kind == "AWS::KMS::Key":  # the key's tags come with the request
        return [("*", _tags(names, logical_id, "aws:RequestTag"))]
    if action in _ALL_OF_TYPE:
        return [(_ALL_OF_TYPE[action].format(p=p, r=r, a=a), ())]
    if action in ("iam:PassRole", "iam:GetRole") and kind != "AWS::IAM::Role":
        passed = (("iam:PassedToService", _PASSED_TO[kind]),) if action == "iam:PassRole" and kind in _PASSED_TO else ()
        return [(role, passed) for role in _role_arns(names, kind, props)]
    if service == "s3" and kind in _CODE and action in ("s3:GetObject", "s3:GetObjectVersion"):
        bucket, key, version = (names.value(_get(props, path)) for path in _CODE[kind])
        if bucket is None or (action == "s3:GetObjectVersion" and version is None):
            return []
        return [(f"arn:{p}:s3:::{bucket}/{key or '*'}", ())]
    if service == "kms" and kind != "AWS::KMS::Key":
        key = _get(props, _KEY[kind]) if kind in _KEY else None
        via: Context = (("kms:ViaService", f"{_service(kind)}.{r}.amazonaws.com"),)
        via += _tags(names, _referenced(key), "aws:ResourceTag")
        return [] if key is None else [(_key_arn(names, key), via)]
    if action == "lambda:GetLayerVersion" and kind == "AWS::Lambda::Function":
        return [(layer, ()) for layer in names.values(props.get("Layers"))]
    if service != _service(kind):
        return [("*", ())]
    return _own(names, logical_id, kind, props, action)


def _own(names: Names, logical_id: str, kind: str, props: dict[str, Any], action: str) -> list[tuple[str, Context]]:
    p, r, a = names.partition, names.region, names.account
    if kind in ("AWS::Lambda::Permission", "AWS::Lambda::EventInvokeConfig", "AWS::Lambda::Version"):
        return [(_function_arn(names, props.get("FunctionName")), ())]
    if kind == "AWS::S3::BucketPolicy":
        return [(f"arn:{p}:s3:::{names.value(props.get('Bucket')) or '*'}", ())]
    if kind == "AWS::SQS::QueuePolicy":
        return [(_queue_arn(names, queue), ()) for queue in props.get("Queues") or []]
    if kind == "AWS::Events::EventBusPolicy":
        bus = names.value(props.get("EventBusName")) or "default"
        return [(bus if bus.startswith("arn:") else f"arn:{p}:events:{r}:{a}:event-bus/{bus}", ())]
    if kind == "AWS::SNS::TopicPolicy":
        return [(names.value(topic) or "*", ()) for topic in props.get("Topics") or []]
    if kind == "AWS::IAM::Policy":
        return [(_role_arn(names, role), _boundary(names, role)) for role in props.get("Roles") or []]
    if kind == "AWS::IAM::ManagedPolicy" and action.startswith(("iam:AttachRole", "iam:DetachRole")):
        policy = names.arn(logical_id) or "*"
        return [
            (_role_arn(names, role), (("iam:PolicyARN", policy), *_boundary(names, role)))
            for role in props.get("Roles") or []
        ]
    own = names.arn(logical_id) or "*"
    if kind == "AWS::KMS::Key":  # the key's own tags (and, tagging, the request's)
        tags = _tags(names, logical_id, "aws:ResourceTag")
        if action == "kms:TagResource":
            tags += _tags(names, logical_id, "aws:RequestTag")
        return [(own, tags)]
    if kind == "AWS::IAM::Role":
        boundary = names.value(props.get("PermissionsBoundary")) if props.get("PermissionsBoundary") else None
        context: Context = (("iam:PermissionsBoundary", boundary),) if boundary else ()
        if action in ("iam:AttachRolePolicy", "iam:DetachRolePolicy"):
            return [(own, (*context, ("iam:PolicyARN", arn))) for arn in names.values(props.get("ManagedPolicyArns"))]
        return [(own, context)]
    if kind == "AWS::Lambda::LayerVersion" and action == "lambda:PublishLayerVersion":
        return [(own.rsplit(":", 1)[0], ())]
    if kind == "AWS::ApiGatewayV2::Api" and action == "apigateway:POST":
        return [(f"arn:{p}:apigateway:{r}::/apis", ())]
    if kind == "AWS::ApiGatewayV2::Stage" and action == "apigateway:POST":
        api = names.value(props.get("ApiId")) or GENERATED
        return [(f"arn:{p}:apigateway:{r}::/apis/{api}/stages", ())]
    return [(own, ())]
