"""The CloudFormation permission check on a small plain template, without a cloud: which handler actions a resource
needs (from cfn-lint's registry schemas, narrowed by its properties), on which ARN, and whether a deploying role's
policies allow them (the local cloud's IAM evaluator)."""

from __future__ import annotations

import json
from typing import Any

from slipway_local.cfn_handlers import Need, iam_action, is_iam_action, needs
from slipway_local.cfn_names import GENERATED, Names
from slipway_local.cfn_permissions import missing_for
from slipway_local.iam import Identity
from slipway_local.policy import Principal

ACCOUNT, REGION, STACK = "111111111111", "us-east-1", "slipway-dev"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/slipway-dev-deployment"


def template(**extra: Any) -> dict[str, Any]:
    function: dict[str, Any] = {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "FunctionName": {"Fn::Sub": "slipway-${EnvName}-train"},
            "Role": {"Fn::GetAtt": ["TrainRole", "Arn"]},
            "Code": {"S3Bucket": f"slipway-{ACCOUNT}-dev-deploy", "S3Key": "code/train.zip"},
            "Handler": "app.handler",
            "Runtime": "python3.13",
            **extra,
        },
    }
    return {
        "Parameters": {"EnvName": {"Type": "String"}, "Shared": {"Type": "String", "Default": "no"}},
        "Conditions": {"Shares": {"Fn::Equals": [{"Ref": "Shared"}, "yes"]}},
        "Resources": {
            "TrainRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {"AssumeRolePolicyDocument": {}, "Tags": [{"Key": "lambda:createdBy", "Value": "SAM"}]},
            },
            "Train": function,
            "Table": {
                "Type": "AWS::DynamoDB::Table",
                "DeletionPolicy": "Retain",
                "Properties": {"TableName": {"Fn::Sub": "slipway-${EnvName}-metadata"}, "KeySchema": []},
            },
            "SharedOnly": {"Type": "AWS::SQS::Queue", "Condition": "Shares", "Properties": {}},
        },
    }


def names_of(doc: dict[str, Any]) -> Names:
    return Names(doc, {"EnvName": "dev"}, ACCOUNT, REGION, STACK)


def by(action: str, found: list[Need]) -> list[Need]:
    return [n for n in found if n.action == action]


def test_names_resolve_subs_refs_and_generated_names() -> None:
    names = names_of(template())
    assert names.ref("Train") == "slipway-dev-train"
    assert names.arn("Train") == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:slipway-dev-train"
    # a role without RoleName gets CloudFormation's <stack>-<logical id>-<suffix>
    assert names.arn("TrainRole") == f"arn:aws:iam::{ACCOUNT}:role/{STACK}-TrainRole-{GENERATED}"
    assert names.value({"Fn::Sub": "${Train.Arn}:live"}) == f"{names.arn('Train')}:live"
    assert names.value({"Fn::If": ["Shares", "a", "b"]}) == "b"
    assert not names.active("SharedOnly") and names.active("Train")
    assert names.value({"Fn::GetAtt": ["Train", "Unknowable"]}) is None


def test_a_functions_needs_follow_its_properties() -> None:
    # GIVEN a function with code in S3 and no VPC, key or layers
    plain = list(needs(names_of(template()), stack_tags={}))
    # THEN it needs CreateFunction on itself and PassRole on its role, passed to Lambda, and its code object
    (create,) = by("lambda:CreateFunction", plain)
    assert create.resource == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:slipway-dev-train"
    assert create.phases == ("create",)
    (passed,) = by("iam:PassRole", plain)
    assert passed.resource.endswith(f":role/{STACK}-TrainRole-{GENERATED}")
    assert dict(passed.context) == {"iam:PassedToService": "lambda.amazonaws.com"}
    assert [n.resource for n in by("s3:GetObject", plain)] == [
        f"arn:aws:s3:::slipway-{ACCOUNT}-dev-deploy/code/train.zip"
    ]
    # AND nothing its properties do not call for: no VPC lookups, no key grants, no concurrency, no version read
    for action in ("ec2:DescribeSubnets", "kms:CreateGrant", "lambda:PutFunctionConcurrency", "s3:GetObjectVersion"):
        assert by(action, plain) == [], action

    # WHEN it gets a VPC, a key and reserved concurrency THEN those calls are needed, the key's through Lambda
    vpc = {"VpcConfig": {"SubnetIds": ["subnet-1"]}, "KmsKeyArn": "arn:aws:kms:us-east-1:111111111111:key/k"}
    richer = list(needs(names_of(template(**vpc, ReservedConcurrentExecutions=5)), stack_tags={}))
    assert by("ec2:DescribeSubnets", richer)[0].resource == "*"
    (grant,) = by("kms:CreateGrant", richer)
    assert grant.resource.endswith(":key/k") and dict(grant.context) == {
        "kms:ViaService": "lambda.us-east-1.amazonaws.com"
    }
    assert by("lambda:PutFunctionConcurrency", richer)


def test_tagging_retained_resources_and_actions_iam_does_not_know() -> None:
    untagged = list(needs(names_of(template()), stack_tags={}))
    tagged = list(needs(names_of(template()), stack_tags={"project": "slipway"}))
    # stack tags propagate: the table needs dynamodb:TagResource only when the stack is tagged
    assert not by("dynamodb:TagResource", untagged) and by("dynamodb:TagResource", tagged)
    # a retained table is never deleted by CloudFormation: its delete handler is not called
    assert not by("dynamodb:DeleteTable", tagged) and by("dynamodb:CreateTable", tagged)
    # the queue exists only under a false condition
    assert not [n for n in tagged if n.logical_id == "SharedOnly"]
    # schema entries that are API operations are checked as the IAM action S3 authorizes them as
    assert iam_action("s3:deleteBucketLifecycle") == "s3:PutLifecycleConfiguration"
    assert is_iam_action("s3:PutLifecycleConfiguration") and not is_iam_action("s3:REST.PUT.OBJECT")


def role(*statements: dict[str, Any], boundary: dict[str, Any] | None = None) -> Identity:
    document = json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
    return Identity(Principal(ACCOUNT, ROLE), ROLE, [document], json.dumps(boundary) if boundary else None)


EVERYTHING = {"Effect": "Allow", "Action": "*", "Resource": "*"}


def test_the_check_names_what_the_role_lacks() -> None:
    names = names_of(template())
    assert missing_for(role(EVERYTHING), names, {}) == ([], [])

    # GIVEN a role that may do everything but pass roles to services other than CloudFormation
    passes_only_to_cfn = {
        "Effect": "Deny",
        "Action": "iam:PassRole",
        "Resource": "*",
        "Condition": {"StringNotEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}},
    }
    missing, _ = missing_for(role(EVERYTHING, passes_only_to_cfn), names, {})
    # THEN the function's PassRole is named, with the resource, the role passed and why
    assert [(m.need.logical_id, m.need.action) for m in missing] == [("Train", "iam:PassRole")]
    assert "denies it" in missing[0].why and "Train (AWS::Lambda::Function): iam:PassRole on " in missing[0].line()

    # AND a permissions boundary without lambda:* takes CreateFunction (and the rest of Lambda) away
    boundary = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "NotAction": "lambda:*", "Resource": "*"}]}
    missing, _ = missing_for(role(EVERYTHING, boundary=boundary), names, {})
    assert {m.need.action for m in missing} >= {"lambda:CreateFunction", "lambda:DeleteFunction"}
    assert all(m.need.action.startswith("lambda:") and "boundary" in m.why for m in missing)


def test_conditions_on_the_role_are_evaluated_with_what_cloudformation_sends() -> None:
    # GIVEN a role that may create tables only in its region (the deployment role's key statement has such a condition)
    in_region = {
        "Effect": "Allow",
        "Action": "dynamodb:*",
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:RequestedRegion": REGION}},
    }
    others = {"Effect": "Allow", "NotAction": "dynamodb:*", "Resource": "*"}
    # THEN the table's calls are allowed (moto's own evaluator reads any such condition as a Deny)
    missing, _ = missing_for(role(in_region, others), names_of(template()), {"project": "slipway"})
    assert missing == []
