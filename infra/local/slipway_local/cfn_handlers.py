"""What CloudFormation's resource handlers call, per resource of a plain template: the registry schemas that
cfn-lint ships list every IAM action a type's create, update and delete handlers may call
(``handlers.<phase>.permissions``); here each becomes a Need on the resource it acts on, when the resource's
properties make the handler call it.

The schemas list the union over all properties (a function's create lists ``ec2:DescribeSubnets`` for a VpcConfig,
``kms:CreateGrant`` for a KmsKeyArn…). An action is required unless WHEN names the properties that make the handler
call it and none of them is set; tagging actions are required when the resource carries tags, its own or the stack's
(CloudFormation propagates stack tags to every type with a Tags property). UNCLEAR lists the schema actions whose
trigger the local cloud cannot tell from the properties, and a schema entry that is no IAM action (cfn-lint's list:
``s3:REST.PUT.OBJECT``, ``apigateway:TagResource``…) is unclear too: they are reported, never required. An entry
naming an API operation that IAM authorizes as another action (``s3:DeleteBucketEncryption``) is checked as that
action (IAM_ACTION_OF). DOCUMENTED adds what a
service's guide requires of the caller beyond the schema. The delete phase is skipped for a resource whose
DeletionPolicy retains it (CloudFormation never calls its delete handler).

Each action acts on the resource's own ARN when it is of the resource's service; iam:PassRole, iam:GetRole, code
objects, KMS keys, layers and ECR images on the ARN the property names; anything else on ``*`` (``ec2:Describe*``,
``logs:CreateLogDelivery``…), as IAM evaluates those actions."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from slipway_local.cfn_names import Names

__all__ = ["DOCUMENTED", "UNCLEAR", "WHEN", "Need", "handler_permissions", "needs"]

PHASES = ("create", "update", "delete")
TAGS = "<tags>"  # the resource's Tags or the stack's
RETAINED = frozenset({"Retain"})

# type -> action -> the properties (dotted paths) that make the handler call it
WHEN: dict[str, dict[str, tuple[str, ...]]] = {
    "AWS::Lambda::Function": {
        "lambda:PutFunctionConcurrency": ("ReservedConcurrentExecutions",),
        "lambda:DeleteFunctionConcurrency": ("ReservedConcurrentExecutions",),
        "ec2:DescribeSecurityGroups": ("VpcConfig",),
        "ec2:DescribeSubnets": ("VpcConfig",),
        "ec2:DescribeVpcs": ("VpcConfig",),
        "ec2:DescribeNetworkInterfaces": ("VpcConfig",),
        "elasticfilesystem:DescribeMountTargets": ("FileSystemConfigs",),
        "s3files:ListMountTargets": ("FileSystemConfigs",),
        "lambda:GetCodeSigningConfig": ("CodeSigningConfigArn",),
        "lambda:GetFunctionCodeSigningConfig": ("CodeSigningConfigArn",),
        "lambda:PutFunctionCodeSigningConfig": ("CodeSigningConfigArn",),
        "lambda:DeleteFunctionCodeSigningConfig": ("CodeSigningConfigArn",),
        "lambda:GetRuntimeManagementConfig": ("RuntimeManagementConfig",),
        "lambda:PutRuntimeManagementConfig": ("RuntimeManagementConfig",),
        "lambda:PutFunctionRecursionConfig": ("RecursiveLoop",),
        "lambda:GetFunctionRecursionConfig": ("RecursiveLoop",),
        "lambda:PutFunctionScalingConfig": ("FunctionScalingConfig",),
        "lambda:PassCapacityProvider": ("CapacityProviderConfig",),
        "lambda:PublishVersion": ("SnapStart", "PublishToLatestPublished"),
    },
    "AWS::DynamoDB::Table": {
        "dynamodb:DescribeImport": ("ImportSourceSpecification",),
        "dynamodb:ImportTable": ("ImportSourceSpecification",),
        "s3:GetObject": ("ImportSourceSpecification",),
        "s3:GetObjectMetadata": ("ImportSourceSpecification",),
        "s3:ListBucket": ("ImportSourceSpecification",),
        "logs:CreateLogGroup": ("ImportSourceSpecification",),
        "logs:CreateLogStream": ("ImportSourceSpecification",),
        "logs:DescribeLogGroups": ("ImportSourceSpecification",),
        "logs:DescribeLogStreams": ("ImportSourceSpecification",),
        "logs:PutLogEvents": ("ImportSourceSpecification",),
        "logs:PutRetentionPolicy": ("ImportSourceSpecification",),
        "dynamodb:DescribeTimeToLive": ("TimeToLiveSpecification",),
        "dynamodb:UpdateTimeToLive": ("TimeToLiveSpecification",),
        "dynamodb:UpdateContributorInsights": ("ContributorInsightsSpecification",),
        "dynamodb:DescribeContributorInsights": ("ContributorInsightsSpecification",),
        "dynamodb:UpdateContinuousBackups": ("PointInTimeRecoverySpecification",),
        "dynamodb:DescribeContinuousBackups": ("PointInTimeRecoverySpecification",),
        "dynamodb:EnableKinesisStreamingDestination": ("KinesisStreamSpecification",),
        "dynamodb:DisableKinesisStreamingDestination": ("KinesisStreamSpecification",),
        "dynamodb:DescribeKinesisStreamingDestination": ("KinesisStreamSpecification",),
        "dynamodb:UpdateKinesisStreamingDestination": ("KinesisStreamSpecification",),
        "kinesis:DescribeStream": ("KinesisStreamSpecification",),
        "kinesis:PutRecords": ("KinesisStreamSpecification",),
        "iam:CreateServiceLinkedRole": ("KinesisStreamSpecification", "ContributorInsightsSpecification"),
        "dynamodb:GetResourcePolicy": ("ResourcePolicy",),
        "dynamodb:PutResourcePolicy": ("ResourcePolicy",),
        "dynamodb:DeleteResourcePolicy": ("ResourcePolicy",),
        "kms:CreateGrant": ("SSESpecification.KMSMasterKeyId",),
        "kms:Decrypt": ("SSESpecification.KMSMasterKeyId",),
        "kms:DescribeKey": ("SSESpecification.KMSMasterKeyId",),
        "kms:ListAliases": ("SSESpecification.KMSMasterKeyId",),
        "kms:Encrypt": ("SSESpecification.KMSMasterKeyId",),
        "kms:RevokeGrant": ("SSESpecification.KMSMasterKeyId",),
    },
    "AWS::S3::Bucket": {
        "s3:PutBucketAbac": ("AbacStatus",),
        "s3:PutAnalyticsConfiguration": ("AnalyticsConfigurations",),
        "s3:DeleteBucketAnalyticsConfiguration": ("AnalyticsConfigurations",),
        "s3:PutEncryptionConfiguration": ("BucketEncryption",),
        "s3:DeleteBucketEncryption": ("BucketEncryption",),
        "s3:PutBucketCORS": ("CorsConfiguration",),
        "s3:DeleteBucketCors": ("CorsConfiguration",),
        "s3:PutInventoryConfiguration": ("InventoryConfigurations",),
        "s3:PutLifecycleConfiguration": ("LifecycleConfiguration",),
        "s3:DeleteBucketLifecycle": ("LifecycleConfiguration",),
        "s3:PutMetricsConfiguration": ("MetricsConfigurations",),
        "s3:DeleteBucketMetricsConfiguration": ("MetricsConfigurations",),
        "s3:PutBucketNotification": ("NotificationConfiguration",),
        "s3:PutBucketReplication": ("ReplicationConfiguration",),
        "s3:PutReplicationConfiguration": ("ReplicationConfiguration",),
        "s3:DeleteBucketReplication": ("ReplicationConfiguration",),
        "iam:PassRole": ("ReplicationConfiguration",),
        "s3:PutBucketWebsite": ("WebsiteConfiguration",),
        "s3:DeleteBucketWebsite": ("WebsiteConfiguration",),
        "s3:PutAccelerateConfiguration": ("AccelerateConfiguration",),
        "s3:PutBucketPublicAccessBlock": ("PublicAccessBlockConfiguration",),
        "s3:PutObjectAcl": ("AccessControl",),
        "s3:PutBucketAcl": ("AccessControl",),
        "s3:GetBucketAcl": ("AccessControl",),
        "s3:PutBucketObjectLockConfiguration": ("ObjectLockConfiguration", "ObjectLockEnabled"),
        "s3:PutObjectLockConfiguration": ("ObjectLockConfiguration", "ObjectLockEnabled"),
        "s3:PutBucketLogging": ("LoggingConfiguration",),
        "s3:PutBucketVersioning": ("VersioningConfiguration",),
        "s3:PutBucketOwnershipControls": ("OwnershipControls",),
        "s3:PutIntelligentTieringConfiguration": ("IntelligentTieringConfigurations",),
        **{
            f"s3:{verb}BucketMetadata{kind}Configuration": ("MetadataConfiguration", "MetadataTableConfiguration")
            for verb in ("Get", "Create", "Delete", "Update")
            for kind in ("Table", "JournalTable", "InventoryTable", "AnnotationTable")
        },
        **{
            f"s3tables:{op}": ("MetadataConfiguration", "MetadataTableConfiguration")
            for op in (
                "CreateNamespace",
                "CreateTable",
                "CreateTableBucket",
                "GetTable",
                "PutTableBucketPolicy",
                "PutTableEncryption",
                "PutTablePolicy",
                "GetTableMetadataLocation",
                "UpdateTableMetadataLocation",
            )
        },
    },
    "AWS::Logs::LogGroup": {
        "logs:GetDataProtectionPolicy": ("DataProtectionPolicy",),
        "logs:PutDataProtectionPolicy": ("DataProtectionPolicy",),
        "logs:DeleteDataProtectionPolicy": ("DataProtectionPolicy",),
        "logs:PutResourcePolicy": ("ResourcePolicyDocument",),
        "logs:DescribeResourcePolicies": ("ResourcePolicyDocument",),
        "logs:DeleteResourcePolicy": ("ResourcePolicyDocument",),
        "logs:PutIndexPolicy": ("FieldIndexPolicies",),
        "logs:DescribeIndexPolicies": ("FieldIndexPolicies",),
        "logs:DeleteIndexPolicy": ("FieldIndexPolicies",),
        "logs:PutBearerTokenAuthentication": ("BearerTokenAuthenticationEnabled",),
        "logs:PutLogGroupDeletionProtection": ("DeletionProtectionEnabled",),
        "logs:AssociateKmsKey": ("KmsKeyId",),
        "logs:DisassociateKmsKey": ("KmsKeyId",),
        "logs:DeleteRetentionPolicy": ("RetentionInDays",),
        "logs:PutRetentionPolicy": ("RetentionInDays",),
    },
    "AWS::SNS::Topic": {
        "sns:Subscribe": ("Subscription",),
        "sns:Unsubscribe": ("Subscription",),
        "sns:ListSubscriptionsByTopic": ("Subscription",),
        "sns:PutDataProtectionPolicy": ("DataProtectionPolicy",),
        "sns:GetDataProtectionPolicy": ("DataProtectionPolicy",),
    },
    "AWS::KMS::Key": {"kms:DisableKey": ("Enabled",), "kms:EnableKey": ("Enabled",)},
    "AWS::Lambda::Alias": {
        f"lambda:{verb}ProvisionedConcurrencyConfig": ("ProvisionedConcurrencyConfig",)
        for verb in ("Put", "Get", "Delete")
    },
    "AWS::StepFunctions::StateMachine": {
        "kms:DescribeKey": ("EncryptionConfiguration.KmsKeyId",),
        "kms:GenerateDataKey": ("EncryptionConfiguration.KmsKeyId",),
    },
    "AWS::KinesisFirehose::DeliveryStream": {
        "kms:CreateGrant": ("DeliveryStreamEncryptionConfigurationInput.KeyARN",),
        "kms:RevokeGrant": ("DeliveryStreamEncryptionConfigurationInput.KeyARN",),
        "kms:DescribeKey": ("DeliveryStreamEncryptionConfigurationInput.KeyARN",),
        "firehose:StartDeliveryStreamEncryption": ("DeliveryStreamEncryptionConfigurationInput",),
        "firehose:StopDeliveryStreamEncryption": ("DeliveryStreamEncryptionConfigurationInput",),
    },
    "AWS::IAM::Role": {
        "iam:AttachRolePolicy": ("ManagedPolicyArns",),
        "iam:DetachRolePolicy": ("ManagedPolicyArns",),
        "iam:PutRolePolicy": ("Policies",),
        "iam:GetRolePolicy": ("Policies",),
        "iam:DeleteRolePolicy": ("Policies",),
        "iam:PutRolePermissionsBoundary": ("PermissionsBoundary",),
        "iam:UpdateRoleDescription": ("Description",),
    },
    "AWS::IAM::ManagedPolicy": {
        "iam:AttachGroupPolicy": ("Groups",),
        "iam:DetachGroupPolicy": ("Groups",),
        "iam:AttachUserPolicy": ("Users",),
        "iam:DetachUserPolicy": ("Users",),
        "iam:AttachRolePolicy": ("Roles",),
        "iam:DetachRolePolicy": ("Roles",),
    },
    "AWS::IAM::Policy": {
        "iam:GetUserPolicy": ("Users",),
        "iam:PutUserPolicy": ("Users",),
        "iam:DeleteUserPolicy": ("Users",),
        "iam:GetGroupPolicy": ("Groups",),
        "iam:PutGroupPolicy": ("Groups",),
        "iam:DeleteGroupPolicy": ("Groups",),
        "iam:GetRolePolicy": ("Roles",),
        "iam:PutRolePolicy": ("Roles",),
        "iam:DeleteRolePolicy": ("Roles",),
    },
    "AWS::ApiGatewayV2::Api": {"s3:GetObject": ("BodyS3Location",)},
}
# type -> action -> the property whose removal alone makes the handler call it (an update of a template that still
# sets the property never does: a role's boundary is put, never deleted, while the template names one)
REMOVES: dict[str, dict[str, str]] = {
    "AWS::IAM::Role": {"iam:DeleteRolePermissionsBoundary": "PermissionsBoundary"},
    "AWS::IAM::User": {"iam:DeleteUserPermissionsBoundary": "PermissionsBoundary"},
}
# Listed by a schema; when the handler calls them cannot be told from the template (reported, not required).
UNCLEAR: dict[str, frozenset[str]] = {
    "AWS::Lambda::Function": frozenset({"lambda:AssociateRuntimeAlias"}),
    # CodeDeploy shifts an alias's traffic when the resource's UpdatePolicy says so (SAM's DeploymentPreference),
    # which is not a property
    "AWS::Lambda::Alias": frozenset(
        {f"codedeploy:{op}" for op in ("CreateDeployment", "GetDeployment", "GetDeploymentGroup")}
        | {"codedeploy:GetDeploymentConfig", "codedeploy:StopDeployment"}
    ),
    "AWS::DynamoDB::Table": frozenset(
        {
            "dynamodb:CreateTableReplica",
            "dynamodb:AssociateTableReplica",
            "dynamodb:Scan",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
            "dynamodb:PutItem",
            "dynamodb:GetItem",
            "dynamodb:DeleteItem",
            "dynamodb:BatchWriteItem",
        }
    ),
    "AWS::Logs::LogGroup": frozenset({"logs:CreateLogDelivery", "s3:REST.PUT.OBJECT", "firehose:TagDeliveryStream"}),
    "AWS::S3::Bucket": frozenset({"s3:DeleteObject"}),
}
# Beyond the schema, what a service's guide requires of whoever creates the resource: (properties, actions, on "*"
# or the property's ARN).
DOCUMENTED: dict[str, list[tuple[tuple[str, ...], tuple[str, ...], str]]] = {
    # API Gateway developer guide, "Configure logging for HTTP APIs": permissions to activate logging
    "AWS::ApiGatewayV2::Stage": [
        (
            ("AccessLogSettings",),
            (
                "logs:CreateLogDelivery",
                "logs:PutResourcePolicy",
                "logs:UpdateLogDelivery",
                "logs:DeleteLogDelivery",
                "logs:CreateLogGroup",
                "logs:DescribeResourcePolicies",
                "logs:GetLogDelivery",
                "logs:ListLogDeliveries",
            ),
            "*",
        )
    ],
    # Lambda developer guide, "Amazon ECR permissions": the creator of an image function reads the image
    "AWS::Lambda::Function": [(("Code.ImageUri",), ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"), "image")],
}


@dataclass(frozen=True)
class Need:
    """One action a handler calls, on one resource, with the condition keys IAM sees."""

    logical_id: str
    resource_type: str
    phases: tuple[str, ...]
    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()
    unclear: bool = False


# Schema entries that name an API operation IAM authorizes as another action (S3's Delete* configuration calls are
# authorized as the matching Put*, per the S3 actions reference)
IAM_ACTION_OF = {
    "s3:DeleteBucketEncryption": "s3:PutEncryptionConfiguration",
    "s3:DeleteBucketLifecycle": "s3:PutLifecycleConfiguration",
    "s3:DeleteBucketCors": "s3:PutBucketCORS",
    "s3:DeleteBucketReplication": "s3:PutReplicationConfiguration",
    "s3:PutBucketReplication": "s3:PutReplicationConfiguration",
    "s3:DeleteBucketAnalyticsConfiguration": "s3:PutAnalyticsConfiguration",
    "s3:DeleteBucketMetricsConfiguration": "s3:PutMetricsConfiguration",
    "s3:PutObjectLockConfiguration": "s3:PutBucketObjectLockConfiguration",
    "s3:GetObjectMetadata": "s3:GetObject",
}


@functools.cache
def handler_permissions(resource_type: str, region: str = "us-east-1") -> dict[str, tuple[str, ...]]:
    """phase -> the schema's actions (cfn-lint's copy of the CloudFormation registry schema), as IAM names them."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(region, resource_type).schema
    handlers = schema.get("handlers") or {}
    found = {
        phase: tuple(dict.fromkeys(iam_action(a) for a in handlers.get(phase, {}).get("permissions", [])))
        for phase in PHASES
    }
    found["<tags>"] = ("Tags",) if "Tags" in (schema.get("properties") or {}) else ()
    return found


def iam_action(action: str) -> str:
    """``s3:getObject`` -> ``s3:GetObject`` (IAM actions are case-insensitive; policies spell them capitalised), and
    an operation IAM authorizes as another action -> that action."""
    service, _, operation = action.partition(":")
    canonical = f"{service}:{operation[:1].upper()}{operation[1:]}"
    return IAM_ACTION_OF.get(canonical, canonical)


@functools.cache
def _iam_actions() -> dict[str, frozenset[str]]:
    """service -> its IAM actions, lower-cased (cfn-lint's list, which its W3037 checks policies against)."""
    from cfnlint.data import AdditionalSpecs
    from cfnlint.helpers import load_resource

    services = load_resource(AdditionalSpecs, "Policies.json")
    return {name: frozenset(a.lower() for a in spec.get("Actions", {})) for name, spec in services.items()}


def is_iam_action(action: str) -> bool:
    service, _, operation = action.lower().partition(":")
    return operation in _iam_actions().get(service, frozenset())


def _present(props: dict[str, Any], path: str) -> bool:
    node: Any = props
    for part in path.split("."):
        if not isinstance(node, dict) or node.get(part) in (None, [], {}):
            return False
        node = node[part]
    return True


def _is_tagging(action: str) -> bool:
    """TagResource, UntagQueue, ListTagsOfResource, PutBucketTagging…"""
    return "Tag" in action.partition(":")[2]


def needs(names: Names, stack_tags: dict[str, str]) -> Iterator[Need]:
    """Every Need of every resource the template creates (conditions evaluated)."""
    for logical_id, resource in names.resources.items():
        if not names.active(logical_id):
            continue
        yield from _resource_needs(names, logical_id, resource, stack_tags)


def _resource_needs(
    names: Names, logical_id: str, resource: dict[str, Any], stack_tags: dict[str, str]
) -> Iterator[Need]:
    from slipway_local.cfn_targets import targets

    kind = resource["Type"]
    props = resource.get("Properties") or {}
    listed = handler_permissions(kind)
    tagged = bool(props.get("Tags")) or (bool(stack_tags) and bool(listed["<tags>"]))
    phases = [p for p in PHASES if not (p == "delete" and resource.get("DeletionPolicy") in RETAINED)]
    by_action: dict[str, list[str]] = {}
    for phase in phases:
        for action in listed[phase]:
            by_action.setdefault(action, []).append(phase)
    when, unclear, removes = WHEN.get(kind, {}), UNCLEAR.get(kind, frozenset()), REMOVES.get(kind, {})
    for action, action_phases in by_action.items():
        if action in when and not any(_present(props, p) for p in when[action]):
            continue
        if action in removes and _present(props, removes[action]):
            continue
        if action not in when and _is_tagging(action) and not tagged:
            continue
        not_iam = not is_iam_action(action)  # a schema entry IAM knows no action for: reported, never required
        for target, context in targets(names, logical_id, resource, action):
            yield Need(
                logical_id, kind, tuple(action_phases), action, target, context, unclear=action in unclear or not_iam
            )
    for required_by, actions, on in DOCUMENTED.get(kind, []):
        if not any(_present(props, p) for p in required_by):
            continue
        for action in actions:
            for target, context in targets(names, logical_id, resource, action, documented_on=on):
                yield Need(logical_id, kind, ("create", "update"), action, target, context)
