"""parliament (duo-labs' IAM policy linter) over every identity policy the three templates create, resolved for each
account as CloudFormation would (the environment stack as SAM translates it, the accounts stack, the bootstrap):
no finding but the ones listed here, each with why it is accepted. parliament 1.6.4 reads one statement at a time
here: it stops at a condition key type newer than its IAM definitions (``ArrayOfARN``), and those statements are
listed too."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from slipway_local.packaging import load_sam_template, package
from tests.unit.test_account_policies import ACCOUNTS, PARAMETERS, REGION, Resolver

with warnings.catch_warnings():  # parliament imports pkg_resources, which warns of its own deprecation
    warnings.simplefilter("ignore")
    import parliament

ROOT = Path(__file__).resolve().parents[2]

# (issue, Sid) → why it is accepted. Sids are the templates' own.
ACCEPTED = {
    # parliament asks an action's every resource type (express executions, map runs); slipway runs standard
    # executions and grants exactly its machines and their executions
    **{
        ("RESOURCE_MISMATCH", sid): "other resource types of states:DescribeExecution/ListExecutions (express, mapRun)"
        for sid in (
            *("ReadMetadataAndHistory", "SeeRunsOfUploads", "ReadMetadataAndRuns", "ReadEverything"),
            *("SlipwayWorkflows", "Workflows", "WatchMapChildren"),
        )
    },
    # iam:PassRole of the one drift-schedule role, only to events.amazonaws.com (iam:PassedToService)
    ("PERMISSIONS_MANAGEMENT_ACTIONS", "PassTheDriftScheduleRole"): "one role, to EventBridge only",
    ("PERMISSIONS_MANAGEMENT_ACTIONS", "PassDriftScheduleRole"): "one role, to EventBridge only",
    # logs:PutResourcePolicy for a state machine's log delivery: AWS's log-delivery API names no resource
    ("PERMISSIONS_MANAGEMENT_ACTIONS", "DeliverErrorLogs"): "Step Functions logging needs it on *",
    ("PERMISSIONS_MANAGEMENT_ACTIONS", "StateMachineLogDelivery"): "Step Functions logging needs it on *",
    # The deployment role (infra/accounts/bootstrap.yaml) exists to create and change the stack's IAM, KMS, bucket and
    # log resources: parliament flags managing permissions as such. What keeps it from raising its own rights is
    # the workload boundary it must put on every role (RolesUnderTheBoundary, NeverARoleWithoutTheBoundary), the
    # attachable-policy allow-list, PassRole to named services, and its Denies on itself, the teams and the trail;
    # the permission matrix's deployment rows show them refused.
    **{
        ("PERMISSIONS_MANAGEMENT_ACTIONS", sid): "the deployment role manages the stack's own resources"
        for sid in (
            *("DataBuckets", "StackResources", "StackPolicies", "RolesUnderTheBoundary", "LogDelivery"),
            *("AttachOnlyTheTemplatesPolicies", "StackRoles", "PassStackRoles", "ManageTaggedKeys", "CreateTaggedKeys"),
        )
    },
    ("PRIVILEGE_ESCALATION", "StackResources"): "functions with a passed role: every role wears the workload boundary",
    ("PRIVILEGE_ESCALATION", "StackPolicies"): "the stack's managed policies: attachable only to bounded roles",
    ("RESOURCE_POLICY_PRIVILEGE_ESCALATION", "DataBuckets"): "the data buckets' policies are the stack's own "
    "(the perimeter); no object rights, and never the trail or deployment bucket",
    ("RESOURCE_MISMATCH", "StackResources"): "service-wide actions on the stack's named resources: the actions of "
    "other resource types (or none) match nothing here",
    ("RESOURCE_MISMATCH", "LogGroups"): "the same, on the stack's log groups",
    ("RESOURCE_MISMATCH", "BusPolicies"): "events:PutPermission names no resource; granted on the default bus",
    ("RESOURCE_MISMATCH", "WatchTheTrainingRun"): "other resource types of states:ListExecutions (mapRun)",
    (
        "RESOURCE_STAR",
        "AccessLogGroups",
    ): "API Gateway's access logs ask for logs:CreateLogGroup on *; this region only",
    ("RESOURCE_STAR", "CreateTaggedKeys"): "kms:CreateKey names no key; only with this environment's tag",
    ("CREDENTIALS_EXPOSURE", "EcrLogin"): "ecr:GetAuthorizationToken, to push the science image (SAM's uploader)",
    ("INVALID_ARN", "TheStack"): "the SAM transform's ARN has the account 'aws', as AWS documents it",
    # parliament 1.6.4 does not know the ArrayOfARN condition type (events:TargetArn)
    ("CRASH", "TargetTheDriftMachine"): "parliament cannot read events:TargetArn's type (ArrayOfARN)",
    ("CRASH", "DriftScheduleTargets"): "parliament cannot read events:TargetArn's type (ArrayOfARN)",
}


class _Resolver(Resolver):
    def arn(self, logical: str) -> str:
        kind, name = self.resources[logical]["Type"], self.name(logical)
        if kind == "AWS::ECR::Repository":
            return f"arn:aws:ecr:{REGION}:{self.account}:repository/{name}"
        if kind == "AWS::IAM::OIDCProvider":
            return f"arn:aws:iam::{self.account}:oidc-provider/token.actions.githubusercontent.com"
        return super().arn(logical)


def _sources(env: str) -> Iterator[tuple[str, dict[str, Any], Resolver]]:
    parameters = {"EnvName": env, "LogLevel": "INFO", "CodeVersion": "", "ScienceImageUri": "x", **PARAMETERS[env]}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", REGION)
        template = package(parameters, account_id=ACCOUNTS[env], region=REGION, deploy_bucket="d").cloudformation
    yield "template", template, _Resolver(template, env, parameters)
    for name, own in (("accounts/template", {"EnvName": env}), ("accounts/bootstrap", {"EnvName": env})):
        loaded = load_sam_template(ROOT / "infra" / f"{name}.yaml")
        yield name, loaded, _Resolver(loaded, env, own)


def _statements(env: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every statement of every identity policy (inline, managed, boundary) the account's stacks create."""
    for where, template, resolver in _sources(env):
        for logical, resource in template["Resources"].items():
            if not resolver.conditions.get(resource.get("Condition", ""), True):
                continue
            documents: list[dict[str, Any]] = []
            if resource["Type"] == "AWS::IAM::Role":
                props = resolver.resolve(resource.get("Properties", {}))
                documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
            elif resource["Type"] in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
                documents = [resolver.resolve(resource["Properties"])["PolicyDocument"]]
            for document in documents:
                found = document["Statement"]
                for statement in found if isinstance(found, list) else [found]:
                    yield f"{env} {where} {logical}", statement


def _findings(statement: dict[str, Any]) -> list[tuple[str, str]]:
    document = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    try:
        policy = parliament.analyze_policy_string(document, include_community_auditors=True)
    except Exception as e:  # noqa: BLE001 - parliament's own limits (it raises bare Exception): listed above when accepted
        return [("CRASH", str(e))]
    return [(f.issue, json.dumps(f.detail, default=str)) for f in policy.findings]


@pytest.mark.parametrize("env", list(ACCOUNTS))
def test_parliament_finds_nothing_but_what_is_accepted(env: str) -> None:
    # GIVEN every identity policy statement of the account's three stacks, resolved for it
    statements = list(_statements(env))
    assert len(statements) > 100
    # WHEN parliament audits each (its own and its community auditors)
    unaccepted = [
        f"{where} {statement.get('Sid')}: {issue} {detail}"
        for where, statement in statements
        for issue, detail in _findings(statement)
        if (issue, statement.get("Sid")) not in ACCEPTED
    ]
    # THEN it finds nothing that is not listed above with its reason
    assert not unaccepted, "\n".join(unaccepted)


def test_parliament_finds_what_it_should() -> None:
    # The audit above can fail: a write on "*" and an unscoped PassRole are found
    assert ("RESOURCE_STAR", '["s3:PutObject"]') in _findings(
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}
    )
    issues = {i for i, _ in _findings({"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"})}
    assert "PERMISSIONS_MANAGEMENT_ACTIONS" in issues
