"""The permission matrix of docs/permissions.md, cell by cell, against the local cloud with IAM enforcement
on: each cell acts as the team's role of that environment (assumed with a team member's keys), or as the
deployment role (infra/accounts/bootstrap.yaml), through slipway's own code or boto3, and must be allowed or
refused (AccessDenied) as the table says. The run
ends with a report (tests/conftest.py prints it) naming, for each cell, whether moto's own evaluator
would have decided it alike or only the local cloud's evaluation of the deployed policy documents does."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from slipway import layout
from slipway.errors import SlipwayError
from slipway.stores import audit, reproductions
from slipway.stores.promotions import record
from slipway.stores.registry import ModelRegistry
from slipway_cli import features, promotion, reproducing, serving
from slipway_cli.serving import HttpApiError
from slipway_cli.target import Target, target_in
from slipway_local import LocalCloud, iam
from slipway_local.cfn_permissions import VIA_CLOUDFORMATION
from slipway_local.cloud import ACCOUNTS, REGION, TEAMS
from slipway_local.routing import pin_to_account

ROOT = Path(__file__).resolve().parents[2]
MATRIX = ROOT / "docs" / "permissions.md"
MODEL = "matrix"
DAY = "2026-11-26"
DENIED = {"AccessDenied", "AccessDeniedException"}
SEEDED_AUDIT_AT = "2026-11-26T00:00:00+00:00"
LAMBDA_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)
EVERYTHING = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
MOTO_RESOURCE_SERVICES = ("s3:", "sts:")  # moto checks these against the real resource ARN
REPORT: list[dict[str, str]] = []  # read by tests/conftest.py's terminal summary


@dataclass(frozen=True)
class Cell:
    action: str
    team: str
    env: str
    expected: str

    def __str__(self) -> str:
        return f"{self.env}-{self.team}:{self.action}"


@dataclass(frozen=True)
class CrossCell:
    team: str
    env: str
    reads: str
    target_env: str
    expected: str

    def __str__(self) -> str:
        verb = "invoke" if self.reads.startswith("lambda/") else "read"
        return f"{self.env}-{self.team}:{verb}-{self.target_env}-{self.reads.replace('/', '-')}"


def _rows() -> list[list[str]]:
    return [
        [c.strip() for c in line.strip().strip("|").split("|")]
        for line in MATRIX.read_text().splitlines()
        if line.startswith("| ") and not line.startswith("|---")
    ]


def matrix() -> list[Cell]:
    cells = []
    for row in _rows():
        if len(row) == 5 and row[1] in TEAMS and all(v in ("allow", "deny") for v in row[2:]):
            cells += [Cell(row[0], row[1], env, v) for env, v in zip(ACCOUNTS, row[2:], strict=True)]
    return cells


@dataclass(frozen=True)
class DeployCell:
    action: str
    env: str
    expected: str

    def __str__(self) -> str:
        return f"{self.env}-deployment:{self.action}"


def deployment() -> list[DeployCell]:
    return [
        DeployCell(row[0], env, v)
        for row in _rows()
        if len(row) == 4
        and row[0] in {**DEPLOYMENT_ACTIONS, **DIRECT_ACTIONS}
        and all(v in ("allow", "deny") for v in row[1:])
        for env, v in zip(ACCOUNTS, row[1:], strict=True)
    ]


def across() -> list[CrossCell]:
    return [
        CrossCell(row[0], row[1], row[2], row[3], row[4])
        for row in _rows()
        if len(row) == 5 and row[1] in ACCOUNTS and row[3] in ACCOUNTS and row[4] in ("allow", "deny")
    ]


# ---------------------------------------------------------------- the world the cells act on


@dataclass
class World:
    cloud: LocalCloud
    sessions: dict[tuple[str, str], boto3.Session]
    objects: dict[tuple[str, str], tuple[str, str]]  # (env, what) -> (bucket, key)

    def session(self, env: str, team: str) -> boto3.Session:
        if (env, team) not in self.sessions:
            if team == "promotion":  # the role the promotion's functions run as
                role = self.cloud.environments[env].outputs["PromotionRoleArn"]
                self.sessions[env, team] = self.role_session(env, role)
            elif team == "promotion-machine":  # the promotion state machine's own role
                role = f"arn:aws:iam::{ACCOUNTS[env]}:role/slipway-{env}-promotion-machine"
                self.sessions[env, team] = self.role_session(env, role)
            elif team == "curate-retraining":  # the role dev's retraining reads labelled captures as
                role = f"arn:aws:iam::{ACCOUNTS[env]}:role/slipway-{env}-curate-retraining-set"
                self.sessions[env, team] = self.role_session(env, role)
            elif team == "deployment":  # the deployment role, as CI holds it (its OIDC trust is not exercised)
                role = f"arn:aws:iam::{ACCOUNTS[env]}:role/slipway-{env}-deployment"
                self.sessions[env, team] = self.role_session(env, role)
            else:
                self.sessions[env, team] = self.cloud.team_session(env, team)
        return self.sessions[env, team]

    def role_session(self, env: str, role: str) -> boto3.Session:
        """A service role, as the service holds it (assumed by the local cloud itself)."""
        sts = self.cloud.admin_client("sts", env)
        credentials = sts.assume_role(RoleArn=role, RoleSessionName="promotion-step")["Credentials"]
        return boto3.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=REGION,
        )

    def target(self, env: str, team: str) -> Target:
        outputs = dict(self.cloud.environments[env].outputs)
        return Target(env, self.session(env, team), self.cloud.endpoint_url, outputs)


def _seed(cloud: LocalCloud, env: str) -> dict[tuple[str, str], tuple[str, str]]:
    """As the environment's operator: one object of each kind, two registered versions of MODEL with
    production moved 1 -> 2 (so there is something to roll back), a pending approval per team."""
    operator = target_in(cloud, env)
    outputs, deps = operator.outputs, operator.deps
    lake, artifacts = outputs["LakeBucketName"], outputs["ArtifactsBucketName"]
    objects = {
        "lake/curated": layout.curated_data(lake, MODEL, "probe"),
        "lake/captures": layout.S3Object(bucket=lake, key=layout.captures_prefix(MODEL, DAY) + "probe.jsonl"),
        "lake/feedback": layout.S3Object(bucket=lake, key=layout.feedback_prefix(MODEL, DAY) + "probe.jsonl"),
        "lake/reports": layout.canary_report(lake, MODEL, "probe"),
        "artifacts/models": layout.model_artifact(artifacts, MODEL, "probe", "model.onnx"),
        "artifacts/specs": layout.spec_object(artifacts, MODEL, "probe"),
    }
    s3 = operator.client("s3")
    # staging's and prod's models and specs are written only by their promotion role (bucket policy): as a copy would
    as_promotion = pin_to_account(cloud.admin_client("s3", env), ACCOUNTS[env], outputs["PromotionRoleArn"])
    for obj in objects.values():
        writer = as_promotion if obj.bucket == artifacts else s3
        writer.put_object(Bucket=obj.bucket, Key=obj.key, Body=b"probe")
    for version in (1, 2):
        deps.table.put(
            layout.item(layout.version_key(MODEL, version), model=MODEL, version=version, test_metrics=REPRODUCED)
        )
    registry = ModelRegistry.of(deps)
    for version in (1, 2):
        registry.set_alias(MODEL, "production", version, actor="operator", reason="matrix seed")
    for team in TEAMS:
        deps.table.put(_approval(env, team))
        # a promotion of its own model that the team's member requested (approve-own-promotion)
        own = _approval(env, team, model=f"{MODEL}-own-{team}", by=_member(cloud, env, team))
        deps.table.put(own)
        record(deps, own["execution"], status="WAITING_FOR_APPROVAL", model=own["model"])
    # platform's approve cell answers a promotion somebody else requested, waiting (its token is not a live task's)
    record(deps, f"promote-{MODEL}-platform", status="WAITING_FOR_APPROVAL", model=MODEL)
    audit.add(deps.table, audit.entry(MODEL, "rollback", at=SEEDED_AUDIT_AT, principal="operator", reason="seed"))
    return {(env, what): (obj.bucket, obj.key) for what, obj in objects.items()}


def _member(cloud: LocalCloud, env: str, team: str) -> str:
    """The ARN a team's member acts as (the role, assumed under the member's name)."""
    return f"arn:aws:sts::{ACCOUNTS[env]}:assumed-role/slipway-{env}-{team}/{team}-member"


def _approval(
    env: str, team: str, model: str = MODEL, by: str = "arn:aws:iam::000000000000:user/someone-else"
) -> dict[str, Any]:
    execution = f"promote-{model}-{team}"
    return layout.item(
        layout.approval_key(model, env, execution),
        model=model,
        env=env,
        execution=execution,
        version=2,
        status="PENDING",
        token=f"not-a-live-task-{team}",
        requested_by=by,
        requested_at="2026-11-26T00:00:00+00:00",
    )


@pytest.fixture(scope="module")
def world(cloud: LocalCloud) -> Iterator[World]:
    objects: dict[tuple[str, str], tuple[str, str]] = {}
    for env in ACCOUNTS:
        objects.update(_seed(cloud, env))
    iam.enable()
    try:
        yield World(cloud, {}, objects)
    finally:
        iam.disable()
        cloud.wait_idle()


# ---------------------------------------------------------------- actions


def _get(world: World, env: str, team: str, what: str) -> None:
    bucket, key = world.objects[env, what]
    world.session(env, team).client("s3").get_object(Bucket=bucket, Key=key)


def _upload_raw(world: World, env: str, team: str) -> None:
    raw = world.cloud.environments[env].outputs["RawBucketName"]
    world.session(env, team).client("s3").put_object(Bucket=raw, Key=f"{MODEL}/{team}.csv", Body=b"a,b\n1,2\n")


def _upload_view(world: World, env: str, team: str) -> None:
    raw = world.cloud.environments[env].outputs["RawBucketName"]
    world.session(env, team).client("s3").put_object(Bucket=raw, Key=f"views/matrix/{team}.csv", Body=b"a,b\n1,2\n")


def _push_view(world: World, env: str, team: str) -> None:
    text = (ROOT / "specs" / "feature_views" / "customer-activity.yaml").read_text()
    _act(lambda: features.push(world.target(env, team), text, "permission matrix"))


def _online_table(world: World, env: str) -> str:
    return world.cloud.environments[env].outputs["OnlineTableName"]


def _read_online(world: World, env: str, team: str) -> None:
    key = {"pk": {"S": layout.online_key("customer-activity", "C000001")}}
    world.session(env, team).client("dynamodb").get_item(TableName=_online_table(world, env), Key=key)


def _write_online(world: World, env: str, team: str) -> None:
    item = {"pk": {"S": layout.online_key("customer-activity", "C000001")}, "t": {"N": "1"}, "v": {"S": "{}"}}
    world.session(env, team).client("dynamodb").put_item(TableName=_online_table(world, env), Item=item)


def _read_registry(world: World, env: str, team: str) -> None:
    ModelRegistry.of(world.target(env, team).deps).versions(MODEL)


def _push_spec(world: World, env: str, team: str) -> None:
    text = (ROOT / "specs" / "churn.yaml").read_text().replace("name: churn", f"name: {MODEL}", 1)
    _act(lambda: serving.push_spec(world.target(env, team), text, reason="permission matrix"))


def _start_promotion(world: World, env: str, team: str) -> None:
    """Through the operate route (the machine runs and fails: the seeded version has no artifacts)."""
    target = world.target(env, team)
    _act(lambda: promotion.start(target, f"{MODEL}@1", promotion.SOURCE_OF[env], "permission matrix"))


def _start(machine: str) -> Callable[[World, str, str], None]:
    def start(world: World, env: str, team: str) -> None:
        outputs = world.cloud.environments[env].outputs
        request = {"ref": f"{MODEL}@1", "source_env": "none", "requested_by": "forged", "reason": "permission matrix"}
        world.session(env, team).client("stepfunctions").start_execution(
            stateMachineArn=outputs[machine], name=f"{MODEL}-{team}-{env}", input=json.dumps(request)
        )

    return start


def _approve(world: World, env: str, team: str) -> None:
    _act(lambda: promotion.answer(world.target(env, team), MODEL, True, "permission matrix"))


def _approve_own(world: World, env: str, team: str) -> None:
    _act(lambda: promotion.answer(world.target(env, team), f"{MODEL}-own-{team}", True, "my own"))


def _answer_task_directly(world: World, env: str, team: str) -> None:
    """SendTaskSuccess with a token read from the table, past the operate route (and its requester check)."""
    world.session(env, team).client("stepfunctions").send_task_success(taskToken=f"not-a-live-task-{team}", output="{}")


def _move_alias(world: World, env: str, team: str) -> None:
    _act(lambda: serving.aliases_set(world.target(env, team), MODEL, "staging", 1, reason="permission matrix"))


def _move_alias_directly(world: World, env: str, team: str) -> None:
    """The registry's own transaction (alias Update + log Put) as the team's role, past the operate route."""
    target = world.target(env, team)
    ModelRegistry.of(target.deps).set_alias(MODEL, "staging", 1, actor="forged", reason="permission matrix")


def _rollback(world: World, env: str, team: str) -> None:
    _act(lambda: promotion.rollback(world.target(env, team), MODEL, "permission matrix"))


REPRODUCED = {"roc_auc": 0.8}
REPRODUCTION = {
    "model": MODEL, "version": 1, "status": "identical", "tolerance": 1e-9, "max_diff": 0.0,
    "feature_set_matches": True, "metrics": [{"metric": "roc_auc", "recorded": 0.8, "reproduced": 0.8, "diff": 0.0}],
}  # fmt: skip


def _record_reproduction(world: World, env: str, team: str) -> None:
    _act(lambda: reproducing.record(world.target(env, team), REPRODUCTION))


def _record_reproduction_directly(world: World, env: str, team: str) -> None:
    """The reproduction's item written as the team's role, past the route: under a name of its choosing."""
    result = {k: v for k, v in REPRODUCTION.items() if k not in ("model", "version")}
    reproductions.record(world.target(env, team).deps, MODEL, 1, "forged", result)


def _act(call: Callable[[], Any]) -> None:
    """An act through the operate route: API Gateway's 403 (no execute-api:Invoke on the route) or the act's own
    refusal of the caller (Forbidden: the requester answering their own promotion) is a denial; the act's
    answer about the world (404 nothing waits, 409 the token is not a live task's) means it was let through.
    A 5xx is a failure of the test, never an outcome."""
    try:
        call()
    except SlipwayError as e:
        if e.details.get("status") == 403:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": e.message}}, "Invoke") from e
        assert e.details.get("status") in (404, 409), e
    except HttpApiError as e:
        raise AssertionError(f"the operate route failed: {e.status} {e.body}") from e


def _overwrite_audit(world: World, env: str, team: str) -> None:
    """A PutItem at an existing audit entry's key with an entry's attributes (a forged reason)."""
    pk, sk = layout.audit_key(MODEL, SEEDED_AUDIT_AT, "rollback")
    forged = audit.entry(MODEL, "rollback", at=SEEDED_AUDIT_AT, principal="operator", reason=f"forged by {team}")
    item = {k: {"S": str(v)} for k, v in forged.items() if v is not None and not isinstance(v, dict)}
    table = world.cloud.environments[env].outputs["MetadataTableName"]
    world.session(env, team).client("dynamodb").put_item(
        TableName=table, Item={**item, "PK": {"S": pk}, "SK": {"S": sk}}
    )


def _update_audit(world: World, env: str, team: str) -> None:
    pk, sk = layout.audit_key(MODEL, SEEDED_AUDIT_AT, "rollback")
    table = world.cloud.environments[env].outputs["MetadataTableName"]
    world.session(env, team).client("dynamodb").update_item(
        TableName=table,
        Key={"PK": {"S": pk}, "SK": {"S": sk}},
        UpdateExpression="SET #r = :r",
        ExpressionAttributeNames={"#r": "reason"},
        ExpressionAttributeValues={":r": {"S": f"rewritten by {team}"}},
    )


def _replace_alias(world: World, env: str, team: str) -> None:
    """A PutItem of the whole production alias item (as it is now: an allowed call changes nothing)."""
    table = world.cloud.environments[env].outputs["MetadataTableName"]
    key = dict(zip(("PK", "SK"), layout.alias_key(MODEL, "production"), strict=True))
    current = world.cloud.admin_client("dynamodb", env).get_item(
        TableName=table, Key={k: {"S": v} for k, v in key.items()}
    )["Item"]
    world.session(env, team).client("dynamodb").put_item(TableName=table, Item=current)


def _change_bucket_policy(world: World, env: str, team: str) -> None:
    """PutBucketPolicy of the raw bucket (with its own policy: an allowed call changes nothing)."""
    raw = world.cloud.environments[env].outputs["RawBucketName"]
    policy = world.cloud.admin_client("s3", env).get_bucket_policy(Bucket=raw)["Policy"]
    world.session(env, team).client("s3").put_bucket_policy(Bucket=raw, Policy=policy)


def _assume_deployment_role(world: World, env: str, team: str) -> None:
    role = f"arn:aws:iam::{ACCOUNTS[env]}:role/slipway-{env}-deployment"
    world.session(env, team).client("sts").assume_role(RoleArn=role, RoleSessionName=f"{team}-deploys")


# Acts through the operate routes: API Gateway's authorization of the signed request decides them.
ROUTE_ACTIONS = frozenset(
    {
        "push-spec",
        "push-view",
        "start-promotion",
        "approve",
        "approve-own-promotion",
        "move-alias",
        "rollback",
        "record-reproduction",
    }
)
ACTIONS: dict[str, Callable[[World, str, str], None]] = {
    "upload-raw": _upload_raw,
    "read-curated": lambda w, e, t: _get(w, e, t, "lake/curated"),
    "read-captures": lambda w, e, t: _get(w, e, t, "lake/captures"),
    "read-report": lambda w, e, t: _get(w, e, t, "lake/reports"),
    "read-model": lambda w, e, t: _get(w, e, t, "artifacts/models"),
    "read-registry": _read_registry,
    "push-spec": _push_spec,
    "upload-view": _upload_view,
    "push-view": _push_view,
    "read-online": _read_online,
    "write-online": _write_online,
    "start-training": _start("TrainingStateMachineArn"),
    "start-promotion": _start_promotion,
    "start-promotion-directly": _start("PromotionStateMachineArn"),
    "approve": _approve,
    "approve-own-promotion": _approve_own,
    "answer-task-directly": _answer_task_directly,
    "move-alias": _move_alias,
    "move-alias-directly": _move_alias_directly,
    "rollback": _rollback,
    "record-reproduction": _record_reproduction,
    "record-reproduction-directly": _record_reproduction_directly,
    "overwrite-audit": _overwrite_audit,
    "update-audit": _update_audit,
    "replace-alias": _replace_alias,
    "change-bucket-policy": _change_bucket_policy,
    "assume-deployment-role": _assume_deployment_role,
}


# ---------------------------------------------------------------- the deployment role's actions


def _boundary(env: str) -> str:
    return f"arn:aws:iam::{ACCOUNTS[env]}:policy/slipway-{env}-workload-boundary"


def _deployer(world: World, env: str, service: str) -> Any:
    return world.session(env, "deployment").client(service)


def _probe_role(world: World, env: str) -> str:
    """A role under the workload boundary, made by the account's administrator for the cells that change one."""
    name = f"slipway-{env}-matrix-probe"
    admin = world.cloud.admin_client("iam", env)
    try:
        admin.get_role(RoleName=name)
    except ClientError:
        admin.create_role(RoleName=name, AssumeRolePolicyDocument=LAMBDA_TRUST, PermissionsBoundary=_boundary(env))
    return name


def _stack_policy(world: World, env: str) -> str:
    """The environment stack's own managed policy (DataKeyUsePolicy), by its ARN."""
    policies = world.cloud.admin_client("iam", env).list_policies(Scope="Local")["Policies"]
    return next(p["Arn"] for p in policies if "DataKeyUsePolicy" in p["PolicyName"])


def _create_role(world: World, env: str, boundary: bool) -> None:
    name = f"slipway-{env}-matrix-{'bounded' if boundary else 'unbounded'}"
    extra = {"PermissionsBoundary": _boundary(env)} if boundary else {}
    _deployer(world, env, "iam").create_role(RoleName=name, AssumeRolePolicyDocument=LAMBDA_TRUST, **extra)


def _attach(world: World, env: str, policy_arn: str) -> None:
    _deployer(world, env, "iam").attach_role_policy(RoleName=_probe_role(world, env), PolicyArn=policy_arn)


def _put_policy_of(bucket: Callable[[World, str], str]) -> Callable[[World, str], None]:
    def put(world: World, env: str) -> None:
        name = bucket(world, env)
        try:
            policy = world.cloud.admin_client("s3", env).get_bucket_policy(Bucket=name)["Policy"]
        except ClientError:  # dev's and staging's accounts have no trail bucket: the call is refused all the same
            policy = json.dumps({"Version": "2012-10-17", "Statement": []})
        _deployer(world, env, "s3").put_bucket_policy(Bucket=name, Policy=policy)

    return put


DEPLOYMENT_ACTIONS: dict[str, Callable[[World, str], None]] = {
    "create-role-without-boundary": lambda w, e: _create_role(w, e, boundary=False),
    "create-role-under-boundary": lambda w, e: _create_role(w, e, boundary=True),
    "attach-administrator": lambda w, e: _attach(w, e, "arn:aws:iam::aws:policy/AdministratorAccess"),
    "attach-stack-policy": lambda w, e: _attach(w, e, _stack_policy(w, e)),
    "remove-boundary": lambda w, e: _deployer(w, e, "iam").delete_role_permissions_boundary(RoleName=_probe_role(w, e)),
    "change-team-role": lambda w, e: _deployer(w, e, "iam").put_role_policy(
        RoleName=f"slipway-{e}-platform", PolicyName="more", PolicyDocument=EVERYTHING
    ),
    "change-workload-boundary": lambda w, e: _deployer(w, e, "iam").create_policy_version(
        PolicyArn=_boundary(e), PolicyDocument=EVERYTHING, SetAsDefault=True
    ),
    "touch-trail-bucket": _put_policy_of(lambda w, e: f"slipway-{ACCOUNTS[e]}-{e}-trail"),
    "change-deployment-bucket-policy": _put_policy_of(lambda w, e: f"slipway-{ACCOUNTS[e]}-{e}-deploy"),
    "change-data-bucket-policy": _put_policy_of(lambda w, e: w.cloud.environments[e].outputs["RawBucketName"]),
}


DIRECT_ACTIONS: dict[str, Callable[[World, str], None]] = {
    "create-role-under-boundary-directly": DEPLOYMENT_ACTIONS["create-role-under-boundary"],
    "change-data-bucket-policy-directly": DEPLOYMENT_ACTIONS["change-data-bucket-policy"],
    "update-function-code-directly": lambda w, e: _deployer(w, e, "lambda").update_function_code(
        FunctionName=f"slipway-{e}-operate", ZipFile=b"PK\x05\x06" + b"\x00" * 18
    ),
}


@contextmanager
def through_cloudformation() -> Iterator[None]:
    """The deployment role's calls as CloudFormation makes them during a deploy (forward access sessions: the role's
    own credentials, ``aws:CalledVia`` naming CloudFormation), evaluated by the local cloud's IAM enforcement."""
    analysed = iam.requests_of

    def via(response: Any, service: str, action: str, resource: str) -> list[iam.Request]:
        return [
            iam.Request(r.action, r.resource, {**r.context, **VIA_CLOUDFORMATION})
            for r in analysed(response, service, action, resource)
        ]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(iam, "requests_of", via)
        yield


def _outcome(act: Callable[[], None]) -> tuple[str, str]:
    iam.DECISIONS.clear()
    try:
        act()
    except ClientError as e:
        if e.response["Error"]["Code"] in DENIED:
            return "deny", str(e.response["Error"].get("Message", ""))
        raise
    return "allow", ""


def _decider(cell: object, outcome: str, message: str) -> tuple[str, str]:
    """Who decided: ``moto`` when moto's evaluator, on the same documents, says the same for every call of
    the cell and the call is one it checks against the real resource; else ``policy documents`` and why."""
    decisions = list(iam.DECISIONS)
    if "another person must answer it" in message:
        return "policy documents", "the operate route's own refusal of the promotion's requester"
    if "execute-api:Invoke" in message or (outcome == "allow" and str(cell).rsplit(":", 1)[1] in ROUTE_ACTIONS):
        return "policy documents", "the route's IAM authorization (the caller's policies and boundary, as API Gateway)"
    if outcome == "deny" and ("resource policy" in message or "explicit deny (" in message):
        return "policy documents", "a resource policy (perimeter): moto ignores principals and conditions in them"
    relevant = decisions if outcome == "allow" else [d for d in decisions if not d.allowed][-1:]
    if not relevant:
        return "policy documents", "no identity decision was recorded"
    for d in relevant:
        if not d.action.startswith(MOTO_RESOURCE_SERVICES):
            return "policy documents", f"{d.action}: moto checks it against the resource '*'"
        if d.moto_allowed != d.allowed:
            return "policy documents", f"{d.action}: moto's evaluator would say {'allow' if d.moto_allowed else 'deny'}"
    return "moto", ""


def _record(cell: object, expected: str, outcome: str, message: str) -> None:
    decider, why = _decider(cell, outcome, message)
    REPORT.append({"cell": str(cell), "expected": expected, "outcome": outcome, "decider": decider, "why": why})


# ---------------------------------------------------------------- the tests


def test_the_matrix_is_large_and_complete() -> None:
    cells = matrix()
    assert len(cells) + len(across()) + len(deployment()) >= 60
    assert {c.action for c in cells} == set(ACTIONS)
    assert {(c.action, c.team) for c in cells} == {(a, t) for a in ACTIONS for t in TEAMS}
    assert {c.action for c in deployment()} == set(DEPLOYMENT_ACTIONS) | set(DIRECT_ACTIONS)
    assert any(c.expected == "allow" for c in across()) and any(c.expected == "deny" for c in across())


@pytest.mark.parametrize("cell", matrix(), ids=str)
def test_cell(world: World, cell: Cell) -> None:
    # GIVEN the team's role in the cell's environment, WHEN it performs the action
    outcome, message = _outcome(lambda: ACTIONS[cell.action](world, cell.env, cell.team))
    _record(cell, cell.expected, outcome, message)
    # THEN AWS's answer (here the local cloud's) is the table's
    assert outcome == cell.expected, f"{cell}: expected {cell.expected}, got {outcome} {message}"
    if outcome == "deny":
        assert re.search(r"not authorized to perform|another person must answer it", message), message


@pytest.mark.parametrize("cell", deployment(), ids=str)
def test_deployment_role(world: World, cell: DeployCell) -> None:
    # GIVEN the environment's deployment role (as CI holds it), WHEN it tries to widen rights or touch what is not
    # the stack's
    if cell.action in DIRECT_ACTIONS:  # as the role itself (a leaked token): no aws:CalledVia
        outcome, message = _outcome(lambda: DIRECT_ACTIONS[cell.action](world, cell.env))
    else:  # as CloudFormation calls for a deploy
        with through_cloudformation():
            outcome, message = _outcome(lambda: DEPLOYMENT_ACTIONS[cell.action](world, cell.env))
    _record(cell, cell.expected, outcome, message)
    # THEN it is refused, or let through where the stack needs it, as the table says
    assert outcome == cell.expected, f"{cell}: expected {cell.expected}, got {outcome} {message}"


@pytest.mark.parametrize("cell", across(), ids=str)
def test_across_accounts(world: World, cell: CrossCell) -> None:
    # GIVEN a principal of one environment, WHEN it reads another environment's bucket
    outcome, message = _outcome(lambda: _get_across(world, cell))
    if outcome == "allow":  # the resource policy's grant decided it too: moto has no account boundary
        why = "across accounts: the resource policy's grant to the named role (moto has no account boundary)"
        REPORT.append(
            {
                "cell": str(cell),
                "expected": cell.expected,
                "outcome": outcome,
                "decider": "policy documents",
                "why": why,
            }
        )
    else:
        _record(cell, cell.expected, outcome, message)
    assert outcome == cell.expected, f"{cell}: expected {cell.expected}, got {outcome} {message}"


def _get_across(world: World, cell: CrossCell) -> None:
    session = world.session(cell.env, cell.team)
    if cell.reads.startswith("lambda/"):
        name = f"slipway-{cell.target_env}-{cell.reads.removeprefix('lambda/')}"
        arn = f"arn:aws:lambda:{REGION}:{ACCOUNTS[cell.target_env]}:function:{name}"
        # an empty request: the function refuses it (InvalidEvent), which proves the invoke was let through
        answer = session.client("lambda").invoke(FunctionName=arn, Payload=b"{}")
        assert json.loads(answer["Payload"].read())["errorType"] == "InvalidEvent"
        return
    bucket, key = world.objects[cell.target_env, cell.reads]
    session.client("s3").get_object(Bucket=bucket, Key=key)


def test_a_team_cannot_leave_its_boundary(world: World) -> None:
    # GIVEN the platform role in dev, WHEN it tries to widen its own rights or weaken a bucket
    session = world.session("dev", "platform")
    raw = world.cloud.environments["dev"].outputs["RawBucketName"]
    for act in (
        lambda: session.client("iam").put_role_policy(
            RoleName="slipway-dev-platform", PolicyName="more", PolicyDocument='{"Statement": []}'
        ),
        lambda: session.client("s3").put_bucket_policy(Bucket=raw, Policy='{"Statement": []}'),
        lambda: session.client("s3").delete_object(Bucket=raw, Key=f"{MODEL}/data-engineer.csv"),
    ):
        # THEN each is refused
        outcome, message = _outcome(act)
        assert outcome == "deny", message


def test_the_audit_trail_names_each_team_role_and_the_auditor_reads_it(world: World) -> None:
    from slipway_cli.commands import audit_view

    # GIVEN a spec pushed by dev's ML engineers, an approval answered by prod's platform team and a rollback
    # by staging's, each as its assumed role through the operate routes (the CLI's code paths)
    text = (ROOT / "specs" / "churn.yaml").read_text().replace("name: churn", "name: audited", 1)
    serving.push_spec(world.target("dev", "ml-engineer"), text, reason="audited spec")
    approval = _approval("prod", "audit-check") | {"requested_at": "2026-12-01T00:00:00+00:00"}  # the newest waiting
    prod = target_in(world.cloud, "prod").deps
    prod.table.put(approval)
    record(prod, approval["execution"], status="WAITING_FOR_APPROVAL", model=MODEL)
    # (its token is not a live task's: the answer is recorded, then withdrawn as undelivered)
    with pytest.raises(SlipwayError, match="no longer waits"):
        promotion.answer(world.target("prod", "platform"), MODEL, False, "not this week")
    promotion.rollback(world.target("staging", "platform"), MODEL, "audit check")

    # WHEN each environment's auditor reads the trail (`slipway audit MODEL --env ENV`)
    dev_trail, _ = audit_view(world.target("dev", "auditor"), "audited")
    prod_trail, _ = audit_view(world.target("prod", "auditor"), MODEL)
    staging_trail, _ = audit_view(world.target("staging", "auditor"), MODEL)

    # THEN each act is there with the team role that did it, and why
    assert [(e["kind"], e["reason"]) for e in dev_trail] == [("spec-push", "audited spec")]
    assert ":assumed-role/slipway-dev-ml-engineer/" in dev_trail[0]["principal"]
    rejected = [e for e in prod_trail if e["kind"] == "rejected"]
    assert [(e["reason"], e["execution"]) for e in rejected][-1:] == [("not this week", "promote-matrix-audit-check")]
    assert ":assumed-role/slipway-prod-platform/" in rejected[0]["principal"]
    rollback = [e for e in staging_trail if e["kind"] == "rollback" and e["reason"] == "audit check"]
    assert len(rollback) == 1 and ":assumed-role/slipway-staging-platform/" in rollback[0]["principal"]
    moves = [e for e in staging_trail if e["kind"] == "alias-move" and e["reason"] == "audit check"]
    assert moves and moves[-1]["principal"] == rollback[0]["principal"]


@pytest.mark.parametrize(("env", "expected"), [("dev", "allow"), ("staging", "deny"), ("prod", "deny")])
def test_models_where_versions_arrive_by_promotion_are_written_only_by_the_promotion_role(
    world: World, env: str, expected: str
) -> None:
    # GIVEN the environment's operator (an administrator: its own policies allow everything)
    artifacts = world.cloud.environments[env].outputs["ArtifactsBucketName"]
    s3 = target_in(world.cloud, env).client("s3")
    # WHEN it writes a model artifact THEN only dev's bucket takes it: staging's (prod's source) and prod's refuse
    # everyone but their promotion role (the bucket policy), whatever the writer's own rights
    outcome, message = _outcome(
        lambda: s3.put_object(Bucket=artifacts, Key=f"models/{MODEL}/forged/model.onnx", Body=b"forged")
    )
    assert outcome == expected, message
