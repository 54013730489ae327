"""The account stacks' policies read as AWS reads them (slipway_local.policy): every role the environment stack
creates wears the workload boundary, and the boundary allows every call those roles are granted (the local
cloud does not enforce the functions' own roles, so a boundary that cut one off would first fail on AWS); a team
role needs MFA where the accounts stack asks for it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from slipway_local import resources
from slipway_local.packaging import package
from slipway_local.policy import Principal, evaluate

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
# Accounts of their own: a local cloud of the same test process may hold moto open (mock_aws then does not reset),
# and its accounts already hold an accounts stack.
ACCOUNTS = {"dev": "100000000001", "staging": "100000000002", "prod": "100000000003"}
PARAMETERS = {
    "dev": {
        "PromotionTargetAccountId": ACCOUNTS["staging"],
        "CaptureSourceAccountIds": f"{ACCOUNTS['staging']},{ACCOUNTS['prod']}",
    },
    "staging": {
        "PromotionSourceAccountId": ACCOUNTS["dev"],
        "PromotionTargetAccountId": ACCOUNTS["prod"],
        "TrainingAccountId": ACCOUNTS["dev"],
    },
    "prod": {"PromotionSourceAccountId": ACCOUNTS["staging"], "TrainingAccountId": ACCOUNTS["dev"]},
}
# What the AWS managed policies SAM attaches grant (on "*"), checked on what the functions really write to.
AWS_MANAGED = {
    "AWSLambdaBasicExecutionRole": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
    "AWSXrayWriteOnlyAccess": ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules"],
    "AWSXRayDaemonWriteAccess": ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingTargets"],
}
NO_VALUE = object()


class Resolver:
    """Intrinsic functions of the translated template, for one account: resources by the names they get."""

    def __init__(self, template: dict[str, Any], env: str, parameters: dict[str, Any]) -> None:
        self.resources = template["Resources"]
        self.env, self.account = env, ACCOUNTS[env]
        self.parameters = {
            "AWS::AccountId": self.account,
            "AWS::Region": REGION,
            "AWS::Partition": "aws",
            **{k: v.get("Default", "") for k, v in template.get("Parameters", {}).items()},
            **parameters,
        }
        self.types = {k: v.get("Type") for k, v in template.get("Parameters", {}).items()}
        self.mappings = template.get("Mappings", {})
        self.conditions: dict[str, bool] = {}
        for name, expression in template.get("Conditions", {}).items():
            self.conditions[name] = self._condition(expression, template["Conditions"])

    def _condition(self, node: Any, all_conditions: dict[str, Any]) -> bool:
        (function, value), *_ = node.items()
        if function == "Condition":
            return self._condition(all_conditions[value], all_conditions)
        if function == "Fn::Equals":
            left, right = (self.resolve(v) for v in value)
            return bool(left == right)
        if function == "Fn::Not":
            return not self._condition(value[0], all_conditions)
        if function == "Fn::Or":
            return any(self._condition(v, all_conditions) for v in value)
        if function == "Fn::And":
            return all(self._condition(v, all_conditions) for v in value)
        raise ValueError(function)

    def name(self, logical: str) -> str:
        props = self.resources[logical].get("Properties", {})
        for key in ("BucketName", "TableName", "FunctionName", "RoleName", "Name", "QueueName", "TopicName"):
            if key in props:
                return str(self.resolve(props[key]))
        for key in ("LogGroupName", "DeliveryStreamName", "ManagedPolicyName"):
            if key in props:
                return str(self.resolve(props[key]))
        return f"slipway-{self.env}-{logical}-GENERATED"

    def arn(self, logical: str) -> str:
        kind, name, a, r = self.resources[logical]["Type"], self.name(logical), self.account, REGION
        return {
            "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{r}:{a}:table/{name}",
            "AWS::Lambda::Function": f"arn:aws:lambda:{r}:{a}:function:{name}",
            "AWS::IAM::Role": f"arn:aws:iam::{a}:role/{name}",
            "AWS::IAM::ManagedPolicy": f"arn:aws:iam::{a}:policy/{name}",
            "AWS::KMS::Key": f"arn:aws:kms:{r}:{a}:key/{logical}",
            "AWS::SQS::Queue": f"arn:aws:sqs:{r}:{a}:{name}",
            "AWS::SNS::Topic": f"arn:aws:sns:{r}:{a}:{name}",
            "AWS::Logs::LogGroup": f"arn:aws:logs:{r}:{a}:log-group:{name}:*",
            "AWS::StepFunctions::StateMachine": f"arn:aws:states:{r}:{a}:stateMachine:{name}",
            "AWS::KinesisFirehose::DeliveryStream": f"arn:aws:firehose:{r}:{a}:deliverystream/{name}",
            "AWS::Events::Rule": f"arn:aws:events:{r}:{a}:rule/{name}",
        }[kind]

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.parameters:
            value = self.parameters[name]
            listed = self.types.get(name) == "CommaDelimitedList" and isinstance(value, str)
            return [v for v in value.split(",") if v] if listed else value
        kind = self.resources[name]["Type"]
        if kind in ("AWS::StepFunctions::StateMachine", "AWS::IAM::ManagedPolicy", "AWS::SNS::Topic"):
            return self.arn(name)
        return self.name(name)

    def get_att(self, logical: str, attribute: str) -> str:
        return self.arn(logical) if attribute == "Arn" else self.name(logical)

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [r for r in (self.resolve(v) for v in node) if r is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (function, value), *_ = node.items()
            if function == "Ref":
                return self.ref(value)
            if function == "Fn::GetAtt":
                logical, attribute = value if isinstance(value, list) else value.split(".", 1)
                return self.get_att(logical, attribute)
            if function == "Fn::If":
                return self.resolve(value[1] if self.conditions[value[0]] else value[2])
            if function == "Fn::FindInMap":
                m, k1, k2 = (self.resolve(v) for v in value)
                return self.mappings[m][k1][k2]
            if function == "Fn::Join":
                return str(value[0]).join(str(v) for v in self.resolve(value[1]))
            if function == "Fn::Sub":
                return self._sub(*(value if isinstance(value, list) else [value, {}]))
        return {k: r for k, v in node.items() if (r := self.resolve(v)) is not NO_VALUE}

    def _sub(self, text: str, variables: dict[str, Any]) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name and name.split(".")[0] in self.resources:
                return self.get_att(*name.split(".", 1))
            found = self.ref(name)
            return ",".join(found) if isinstance(found, list) else str(found)

        return re.sub(r"\$\{([^}!]+)\}", value, text)


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    found = document.get("Statement", [])
    return [s for s in (found if isinstance(found, list) else [found]) if s]


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


@pytest.fixture(scope="module")
def boundaries() -> dict[str, dict[str, Any]]:
    """The accounts stack's workload boundary as deployed in each account (moto's CloudFormation)."""
    resources.install()
    found = {}
    for env, account in ACCOUNTS.items():
        with mock_aws(), pytest.MonkeyPatch.context() as patch:
            patch.setenv("MOTO_ACCOUNT_ID", account)
            cfn = boto3.client("cloudformation", region_name=REGION)
            cfn.create_stack(
                StackName="accounts",
                TemplateBody=(ROOT / "infra" / "accounts" / "template.yaml").read_text(),
                Parameters=[{"ParameterKey": "EnvName", "ParameterValue": env}],
                Capabilities=["CAPABILITY_NAMED_IAM"],
            )
            iam = boto3.client("iam", region_name=REGION)
            arn = f"arn:aws:iam::{account}:policy/slipway-{env}-workload-boundary"
            version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
            document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
            platform = iam.get_role(RoleName=f"slipway-{env}-platform")["Role"]["AssumeRolePolicyDocument"]
            found[env] = {"boundary": document, "arn": arn, "platform_trust": platform}
    return found


def _granted(env: str) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """Each role of the environment stack: the statements of its inline and attached policies, resolved."""
    parameters = {"EnvName": env, "LogLevel": "INFO", "CodeVersion": "", "ScienceImageUri": "x", **PARAMETERS[env]}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", REGION)
        template = package(parameters, account_id=ACCOUNTS[env], region=REGION, deploy_bucket="d").cloudformation
    resolver = Resolver(template, env, parameters)
    roles: dict[str, list[dict[str, Any]]] = {}
    boundaries: dict[str, Any] = {}
    for logical, resource in template["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role" or not resolver.conditions.get(resource.get("Condition", ""), True):
            continue
        props = resolver.resolve(resource["Properties"])
        boundaries[logical] = props.get("PermissionsBoundary")
        statements = [s for p in props.get("Policies", []) for s in _statements(p["PolicyDocument"])]
        for arn in props.get("ManagedPolicyArns", []):
            managed = arn.rsplit("/", 1)[1]
            if managed in AWS_MANAGED:
                statements.append({"Effect": "Allow", "Action": AWS_MANAGED[managed], "Resource": "AWS-MANAGED"})
                continue
            own = next(k for k in template["Resources"] if arn.endswith(f"/{resolver.name(k)}"))
            statements += _statements(resolver.resolve(template["Resources"][own]["Properties"])["PolicyDocument"])
        roles[logical] = statements
    for resource in template["Resources"].values():  # AWS::IAM::Policy attached to roles by name
        if resource["Type"] == "AWS::IAM::Policy" and resolver.conditions.get(resource.get("Condition", ""), True):
            props = resolver.resolve(resource["Properties"])
            for role in props["Roles"]:
                owner = next(k for k in roles if resolver.name(k) == role)
                roles[owner] += _statements(props["PolicyDocument"])
    return roles, boundaries


@pytest.mark.parametrize("env", list(ACCOUNTS))
def test_every_stack_role_wears_the_workload_boundary_and_every_grant_is_within_it(
    boundaries: dict[str, dict[str, Any]], env: str
) -> None:
    # GIVEN the environment stack as SAM translates it, and the accounts stack's boundary of that account
    roles, worn = _granted(env)
    boundary = boundaries[env]["boundary"]
    function_logs = f"arn:aws:logs:{REGION}:{ACCOUNTS[env]}:log-group:/slipway/{env}/functions:log-stream:x"
    assert len(roles) > 15

    # THEN every role wears it, and it allows each action each role is granted, on each resource
    outside = []
    for role, statements in roles.items():
        assert worn[role] == boundaries[env]["arn"], f"{role} wears {worn[role]}"
        for statement in statements:
            if statement.get("Effect") != "Allow":
                continue
            context = {
                key: str(_listed(values)[0])
                for pairs in (statement.get("Condition") or {}).values()
                for key, values in pairs.items()
            }
            for action in _listed(statement["Action"]):
                for resource in _listed(statement["Resource"]):
                    if resource == "AWS-MANAGED":  # logs: the group the functions write to; X-Ray names none
                        resource = function_logs if action.startswith("logs:") else "*"
                    if not evaluate([boundary], action, resource, context).allowed:
                        outside.append(f"{role}: {action} on {resource}")
    assert not outside, "\n".join(outside)


def test_a_grant_outside_the_boundary_is_found(boundaries: dict[str, dict[str, Any]]) -> None:
    # The check above can fail: IAM, the trail bucket and another environment's table are outside the boundary
    boundary, prod = boundaries["prod"]["boundary"], ACCOUNTS["prod"]
    for action, resource in (
        ("iam:CreateRole", f"arn:aws:iam::{prod}:role/x"),
        ("s3:PutObject", f"arn:aws:s3:::slipway-{prod}-prod-trail/AWSLogs/x"),
        ("s3:PutBucketPolicy", f"arn:aws:s3:::slipway-{prod}-prod-raw"),
        ("dynamodb:PutItem", f"arn:aws:dynamodb:us-east-1:{prod}:table/slipway-dev-metadata"),
        ("kms:Decrypt", f"arn:aws:kms:us-east-1:{prod}:key/k"),
    ):
        assert not evaluate([boundary], action, resource, {}).allowed, action


def test_a_team_role_needs_mfa_unless_the_accounts_stack_says_otherwise(
    boundaries: dict[str, dict[str, Any]],
) -> None:
    # GIVEN the platform role of the accounts stack deployed with its defaults (RequireMfa: true)
    trust = boundaries["dev"]["platform_trust"]
    member = Principal(ACCOUNTS["dev"], f"arn:aws:iam::{ACCOUNTS['dev']}:user/bob")
    role = f"arn:aws:iam::{ACCOUNTS['dev']}:role/slipway-dev-platform"
    # WHEN a member of the account assumes it without, then with MFA (the session named after them)
    bob = {"aws:username": "bob", "sts:RoleSessionName": "bob"}
    without = evaluate([trust], "sts:AssumeRole", role, bob, member)
    with_mfa = evaluate([trust], "sts:AssumeRole", role, bob | {"aws:MultiFactorAuthPresent": "true"}, member)
    # THEN only the MFA-authenticated call is trusted
    assert (without.allowed, with_mfa.allowed) == (False, True), json.dumps(trust)


def test_a_member_assumes_a_team_role_only_under_their_own_name(boundaries: dict[str, dict[str, Any]]) -> None:
    # GIVEN the platform role's trust of the account's own members; bob, signed in with MFA
    trust = boundaries["dev"]["platform_trust"]
    member = Principal(ACCOUNTS["dev"], f"arn:aws:iam::{ACCOUNTS['dev']}:user/bob")
    role = f"arn:aws:iam::{ACCOUNTS['dev']}:role/slipway-dev-platform"
    signed_in = {"aws:username": "bob", "aws:MultiFactorAuthPresent": "true"}
    # WHEN bob names his session bob, then alice (to approve a promotion bob requested as "another person")
    as_bob = evaluate([trust], "sts:AssumeRole", role, signed_in | {"sts:RoleSessionName": "bob"}, member)
    as_alice = evaluate([trust], "sts:AssumeRole", role, signed_in | {"sts:RoleSessionName": "alice"}, member)
    # THEN only his own name is trusted: the session name the operate routes compare is the person's
    assert (as_bob.allowed, as_alice.allowed) == (True, False), json.dumps(trust)
