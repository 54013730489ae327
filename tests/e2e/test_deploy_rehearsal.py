"""The user's deploy path, rehearsed (docs/deploying.md): each account's bootstrap stack as its administrator, then
the environment stack as CI deploys it — the deployment role reached through GitHub's OIDC exchange, the science
image pushed, `slipway deploy` running SAM CLI's own `sam deploy` with infra/samconfig.toml — and CloudFormation
acting with the role's rights, checked against what each resource's handlers call (the registry schemas cfn-lint
ships). The session's local cloud is deployed that way (LocalCloud's default); the permission tests rehearse dev
again in accounts of their own, with one permission taken from the role."""

from __future__ import annotations

import copy
import dataclasses
import fnmatch
import json
from typing import Any

import pytest

from slipway.stores.specs import push_spec
from slipway_cli.samples import make_churn, to_csv_bytes
from slipway_local import LocalCloud, iam
from slipway_local.cfn_names import Names
from slipway_local.cfn_permissions import Refusal, check
from slipway_local.ci_job import JOB_COMMANDS, WORKFLOW, run_integration_job
from slipway_local.cloud import ACCOUNTS
from slipway_local.images import science_image
from slipway_local.rehearsal import DeployCallRefused, DeployPermissionError, bootstrap, ci_session, deploy_as_ci
from slipway_local.routing import pin_to_account
from tests.conftest import ONE_FOREST, spec_variant, upload_and_wait

IMAGE_FUNCTIONS = ("ValidateFunction", "TrainFunction", "ComputeDriftFunction", "CurateRetrainingSetFunction")


def _rehearsed(cloud: LocalCloud) -> None:
    if not cloud.rehearse:
        pytest.skip("the session's local cloud was deployed by the fast path (SLIPWAY_LOCAL_DEPLOY=fast)")


CI_ROLE = "slipway-dev-ci-integration"


def _role(env: str) -> str:
    return f"arn:aws:iam::{ACCOUNTS[env]}:role/slipway-{env}-deployment"


def test_each_account_is_deployed_by_its_deployment_role_through_slipway_deploy(cloud: LocalCloud) -> None:
    _rehearsed(cloud)
    digests = set()
    for env, account in ACCOUNTS.items():
        # GIVEN the account as the rehearsal left it
        rehearsed = cloud.rehearsals[env]
        cfn = cloud.admin_client("cloudformation", env)
        stack = cfn.describe_stacks(StackName=f"slipway-{env}")["Stacks"][0]

        # THEN the deployment role of its bootstrap stack deployed it, through sam deploy's change set
        assert rehearsed.deployment_role_arn == _role(env)
        assert f"Successfully created/updated stack - slipway-{env}" in rehearsed.output
        change_sets = cfn.list_change_sets(StackName=f"slipway-{env}")["Summaries"]
        assert [c["ChangeSetName"].startswith("samcli-deploy") for c in change_sets] == [True]
        assert change_sets[0]["ExecutionStatus"] == "EXECUTE_COMPLETE"
        # AND with samconfig's config-env: its tags, its parameters, the image digest passed by slipway deploy
        assert {t["Key"]: t["Value"] for t in stack["Tags"]} == {"project": "slipway", "environment": env}
        parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
        assert parameters["EnvName"] == env and parameters["ScienceImageDigest"] == rehearsed.image_digest
        # AND the image functions run the image pushed to the account's own repository
        lam = cloud.admin_client("lambda", env)
        for logical_id in IMAGE_FUNCTIONS:
            code = lam.get_function(FunctionName=cloud.environments[env].functions[logical_id])["Code"]
            assert code["ImageUri"] == (
                f"{account}.dkr.ecr.us-east-1.amazonaws.com/slipway-{env}-science@{rehearsed.image_digest}"
            )
        images = cloud.admin_client("ecr", env).describe_images(repositoryName=f"slipway-{env}-science")
        assert [i["imageDigest"] for i in images["imageDetails"]] == [rehearsed.image_digest]
        digests.add(rehearsed.image_digest)
    # AND one image moved dev -> staging -> prod: the same digest in the three accounts
    assert digests == {science_image().digest}


def test_an_upload_to_the_rehearsed_dev_registers_a_model(cloud: LocalCloud) -> None:
    _rehearsed(cloud)
    # GIVEN a spec pushed to the rehearsed dev (one small forest, to train quickly)
    from slipway_cli.target import target_in

    push_spec(target_in(cloud, "dev").deps, spec_variant("rehearsed", **ONE_FOREST))

    # WHEN a CSV of the sample data lands in dev's raw bucket
    run = upload_and_wait(cloud, "dev", "rehearsed/sample.csv", to_csv_bytes(make_churn(n_rows=1_500, seed=3)))

    # THEN the training run the upload started registers version 1 of the model
    assert run.status == "SUCCEEDED", run.execution.get("cause")
    assert (run.output["model"]["model"], run.output["model"]["version"]) == ("rehearsed", 1)


# ---------------------------------------------------------------- one permission taken from the deployment role


def without(document: dict[str, Any], action: str) -> dict[str, Any]:
    """The policy without ``action``: dropped where a statement lists it (the statement too, when it was its only
    action); where a wildcard grants it (``lambda:*``), denied by a statement of its own (IAM has no "all of lambda but
    one")."""
    changed = copy.deepcopy(document)
    granted_by_wildcard = False
    for statement in changed["Statement"]:
        if statement["Effect"] != "Allow":  # a Deny (with NotAction, too) stays as it is
            continue
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else list(statement["Action"])
        if action in actions:
            statement["Action"] = [a for a in actions if a != action]
        elif any(fnmatch.fnmatchcase(action, a) for a in actions):
            granted_by_wildcard = True
    changed["Statement"] = [s for s in changed["Statement"] if s.get("Action") or "NotAction" in s]
    if granted_by_wildcard:
        changed["Statement"].append({"Sid": "TakenAway", "Effect": "Deny", "Action": action, "Resource": "*"})
    return changed


def _deployment_policy(account: str, env: str) -> dict[str, Any]:
    """The role's ``deploy`` policy as IAM holds it (moto's GetRolePolicy renders a policy CloudFormation created as
    Python text, so it is read from moto's IAM itself)."""
    from moto.iam.models import iam_backends

    document = iam_backends[account]["aws"].get_role(f"slipway-{env}-deployment").policies["deploy"]
    return copy.deepcopy(document) if isinstance(document, dict) else json.loads(document)


def _admin(service: str) -> Any:
    import boto3

    return boto3.client(service, region_name="us-east-1", aws_access_key_id="admin", aws_secret_access_key="admin")


# Accounts of their own, one per case: a fresh bootstrap and a first deploy each time
E2E = [
    ("lambda:CreateFunction", "444444444401", {("ValidateFunction", "AWS::Lambda::Function")}),
    ("iam:PassRole", "444444444402", {("TrainFunction", "AWS::Lambda::Function"),
                                     ("TrainingStateMachine", "AWS::StepFunctions::StateMachine")}),
]  # fmt: skip


@pytest.mark.parametrize(("action", "account", "named"), E2E, ids=[case[0] for case in E2E])
def test_taking_a_permission_from_the_deployment_role_fails_the_rehearsal(
    cloud: LocalCloud, action: str, account: str, named: set[tuple[str, str]]
) -> None:
    # GIVEN a new account bootstrapped by its administrator, whose deployment role then loses one permission
    endpoint = cloud.endpoint_url or cloud.runtime.worker_endpoint
    assert endpoint
    bootstrap(pin_to_account(_admin("cloudformation"), account), "dev")
    policy = without(_deployment_policy(account, "dev"), action)
    pin_to_account(_admin("iam"), account).put_role_policy(
        RoleName="slipway-dev-deployment", PolicyName="deploy", PolicyDocument=json.dumps(policy)
    )
    pin_to_account(_admin("ssm"), account).put_parameter(
        Name="/slipway/dev/pii-salt", Type="SecureString", Value="salt"
    )

    # WHEN CI deploys dev there as that role (slipway deploy, SAM CLI)
    role = f"arn:aws:iam::{account}:role/slipway-dev-deployment"
    with pytest.raises(DeployPermissionError) as refused:
        deploy_as_ci(endpoint, "dev", account, role, {**ACCOUNTS, "dev": account})

    # THEN CloudFormation refused the stack for that action alone, naming the resources that need it
    refusal = refused.value.refusal
    assert {m.need.action for m in refusal.missing} == {action}
    assert named <= {(m.need.logical_id, m.need.resource_type) for m in refusal.missing}
    message = str(refused.value)
    assert "slipway-dev-deployment (policies: deploy)" in message and "infra/accounts/bootstrap.yaml" in message
    for logical_id, resource_type in named:
        assert f"{logical_id} ({resource_type}): {action} on " in message
    # AND the stack is left as CloudFormation leaves a failed create, its events naming the resource and action
    events = pin_to_account(_admin("cloudformation"), account).describe_stack_events(StackName="slipway-dev")
    failed = [e for e in events["StackEvents"] if e["ResourceStatus"] == "CREATE_FAILED"]
    assert any(e["LogicalResourceId"] == sorted(named)[0][0] and action in e["ResourceStatusReason"] for e in failed)


def test_taking_a_permission_of_the_deploys_own_calls_fails_the_rehearsal_naming_the_call(cloud: LocalCloud) -> None:
    # GIVEN a new account whose deployment role may not upload to its deployment bucket (what sam deploy does first)
    account = "444444444403"
    endpoint = cloud.endpoint_url or cloud.runtime.worker_endpoint
    assert endpoint
    bootstrap(pin_to_account(_admin("cloudformation"), account), "dev")
    policy = without(_deployment_policy(account, "dev"), "s3:PutObject")
    pin_to_account(_admin("iam"), account).put_role_policy(
        RoleName="slipway-dev-deployment", PolicyName="deploy", PolicyDocument=json.dumps(policy)
    )

    # WHEN CI deploys dev there THEN the rehearsal fails naming the refused call, its resource and the role
    role = f"arn:aws:iam::{account}:role/slipway-dev-deployment"
    with pytest.raises(DeployCallRefused) as refused:
        deploy_as_ci(endpoint, "dev", account, role, {**ACCOUNTS, "dev": account})
    calls = {(d.action, d.resource.split("/")[0]) for d in refused.value.refused}
    assert calls == {("s3:PutObject", f"arn:aws:s3:::slipway-{account}-dev-deploy")}
    assert "infra/accounts/bootstrap.yaml" in str(refused.value) and role in str(refused.value)


def _dev_check(cloud: LocalCloud, document: dict[str, Any]) -> Refusal | None:
    """The check CloudFormation ran when dev's change set executed, against the deployment role with this policy."""
    from slipway_local.iam import identity_of_role

    cfn = cloud.admin_client("cloudformation", "dev")
    body = cfn.get_template(StackName="slipway-dev")["TemplateBody"]
    stack = cfn.describe_stacks(StackName="slipway-dev")["Stacks"][0]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    tags = {t["Key"]: t["Value"] for t in stack.get("Tags", [])}
    names = Names(body if isinstance(body, dict) else json.loads(body), parameters, ACCOUNTS["dev"], "us-east-1",
                  "slipway-dev")  # fmt: skip
    identity = dataclasses.replace(identity_of_role(_role("dev")), documents=[json.dumps(document)])
    return check(identity, names, tags)


CHECKED = [
    ("states:CreateStateMachine", "AWS::StepFunctions::StateMachine", "TrainingStateMachine"),
    ("dynamodb:CreateTable", "AWS::DynamoDB::Table", "MetadataTable"),
    ("events:PutPermission", "AWS::Events::EventBusPolicy", "TargetSendsDrift"),
    ("logs:CreateLogGroup", "AWS::Logs::LogGroup", "FunctionLogs"),
    ("kms:CreateKey", "AWS::KMS::Key", "DataKey"),
    ("iam:CreateRole", "AWS::IAM::Role", "ValidateFunctionRole"),
    ("s3:PutEncryptionConfiguration", "AWS::S3::Bucket", "RawBucket"),
]


@pytest.mark.parametrize(("action", "resource_type", "logical_id"), CHECKED, ids=[c[0] for c in CHECKED])
def test_the_check_names_each_permission_taken_from_the_role(
    cloud: LocalCloud, action: str, resource_type: str, logical_id: str
) -> None:
    _rehearsed(cloud)
    # GIVEN dev's processed template, which the deployment role deployed with nothing missing
    policy = _deployment_policy(ACCOUNTS["dev"], "dev")
    assert _dev_check(cloud, policy) is None

    # WHEN one permission is taken from the role
    refusal = _dev_check(cloud, without(policy, action))

    # THEN the check names that action alone, on the resources whose handlers call it
    assert refusal is not None
    assert {m.need.action for m in refusal.missing} == {action}
    assert (logical_id, resource_type) in {(m.need.logical_id, m.need.resource_type) for m in refusal.missing}


# ---------------------------------------------------------------- the workflow's dev integration job


def test_the_job_commands_are_the_workflows() -> None:
    script = WORKFLOW.read_text()
    for command in JOB_COMMANDS:
        assert command in script, command


def test_the_integration_job_runs_as_its_own_role_and_a_refused_call_is_named(cloud: LocalCloud) -> None:
    _rehearsed(cloud)
    # GIVEN dev's CI integration role (bootstrap.yaml: exactly the job's calls), additionally denied uploads to raw
    iam_client = cloud.admin_client("iam", "dev")
    raw = cloud.environments["dev"].outputs["RawBucketName"]
    deny = {"Effect": "Deny", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{raw}/*"}
    iam_client.put_role_policy(
        RoleName=CI_ROLE,
        PolicyName="rehearsal-denies-uploads",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [deny]}),
    )
    endpoint = cloud.endpoint_url or cloud.runtime.worker_endpoint
    assert endpoint
    role_arn = f"arn:aws:iam::{ACCOUNTS['dev']}:role/{CI_ROLE}"
    try:
        # WHEN the job runs as that role, as CI runs it (1,500 sample rows instead of the workflow's 5,000)
        run = run_integration_job(endpoint, ci_session(endpoint, role_arn, "dev"), rows=1_500)
    finally:
        iam_client.delete_role_policy(RoleName=CI_ROLE, PolicyName="rehearsal-denies-uploads")

    # THEN the job ran to its end (refusals recorded, not raised) and its training run succeeded
    assert run.status == "SUCCEEDED", "\n".join(run.outputs)
    # AND the one refusal is the upload, named with the command that made it and the policy that refused it: every
    # other call of the workflow's job is the role's to make
    assert [(r.command, r.action, r.resource) for r in run.refused] == [
        (JOB_COMMANDS[3], "s3:PutObject", f"arn:aws:s3:::{raw}/churn/ci-{'0' * 40}.csv")
    ]
    assert "denies" in run.refused[0].why
    assert iam.enabled() is cloud.enforce_iam  # the job leaves enforcement as it found it


# ---------------------------------------------------------------- the OIDC trust of the deployment role


@pytest.mark.parametrize(
    ("repository", "environment", "ref"),
    [
        ("your-org/slipway", "staging", "refs/heads/main"),
        ("someone-else/slipway", "dev", "refs/heads/main"),
        ("your-org/slipway", "dev", "refs/heads/feature"),
    ],
    ids=["another-environment", "another-repository", "another-branch"],
)
def test_only_this_repositorys_job_in_the_environment_gets_the_deployment_role(
    cloud: LocalCloud, repository: str, environment: str, ref: str
) -> None:
    _rehearsed(cloud)
    from botocore.exceptions import ClientError

    endpoint = cloud.endpoint_url or cloud.runtime.worker_endpoint
    assert endpoint
    # GIVEN dev's deployment role, which a job of your-org/slipway in the GitHub environment dev on main may assume
    assert ci_session(endpoint, _role("dev"), "dev").client("sts", endpoint_url=endpoint).get_caller_identity()

    # WHEN a job of another environment, repository or branch presents its token THEN STS refuses it
    with pytest.raises(ClientError) as refused:
        ci_session(endpoint, _role("dev"), environment, repository, ref)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
