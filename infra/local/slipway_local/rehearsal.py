"""The user's deploy path (docs/deploying.md), rehearsed in one account of the local cloud:

1. as the account's administrator: ``infra/accounts/bootstrap.yaml`` (the deployment role, its bucket, the science
   image's repository), ``infra/accounts/template.yaml`` (the team roles; LocalCloud deploys it) and the PII salt;
2. as CI: GitHub's OIDC token for a job of this repository in the environment of the account's name, exchanged
   for the deployment role's keys with ``sts:AssumeRoleWithWebIdentity`` (the trust policy decides,
   slipway_local.web_identity; the token is minted here, unsigned: no GitHub), then, as the deployment role, the
   science image pushed to the account's repository (a manifest, slipway_local.images) and
   ``slipway deploy --env ENV --image-digest …``: SAM CLI's own ``sam deploy`` with infra/samconfig.toml, pointed
   at the local endpoint, with IAM enforced on every call it makes and CloudFormation acting with the role's rights
   (slipway_local.cfn_permissions).

What `make build` would leave in ``.aws-sam/build`` is laid out in a working directory: the template with each
function's, layer's and state machine's sources in the checkout (their requirements are not installed; the local
runtime runs the handlers from the checkout). The stack that results is what LocalCloud then realises (bucket
notifications, the functions' handlers, HTTP APIs) exactly as after its own deploys."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from slipway_local import iam, images
from slipway_local.cfn_permissions import REFUSALS, Refusal
from slipway_local.packaging import REPO_ROOT, TEMPLATE_PATH, load_sam_template

__all__ = [
    "GITHUB_ISSUER",
    "REPOSITORY",
    "DeployCallRefused",
    "DeployFailed",
    "DeployPermissionError",
    "Rehearsed",
    "bootstrap",
    "ci_session",
    "deploy_as_ci",
    "job_environment",
    "sam_cli",
]

BOOTSTRAP_PATH = REPO_ROOT / "infra" / "accounts" / "bootstrap.yaml"
SAMCONFIG_PATH = REPO_ROOT / "infra" / "samconfig.toml"
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
REPOSITORY = "your-org/slipway"  # the bootstrap's GitHubRepository here, as in docs/deploying.md
SAMCONFIG_ACCOUNTS = {"dev": "111111111111", "staging": "222222222222", "prod": "333333333333"}
_CODE_PATHS = ("CodeUri", "ContentUri", "DefinitionUri")


class DeployFailed(RuntimeError):
    """`slipway deploy` failed for another reason than a missing CloudFormation permission (its output says why)."""


class DeployPermissionError(DeployFailed):
    """CloudFormation refused the stack: the deploying principal lacks what a resource's handler calls."""

    def __init__(self, env: str, refusal: Refusal) -> None:
        self.env, self.refusal = env, refusal
        lines = "\n".join(f"  {m.line()}" for m in refusal.missing)
        super().__init__(
            f"{env}: CloudFormation cannot deploy slipway-{env} as {refusal.principal}: {len(refusal.missing)} "
            f"missing permission(s); change {refusal.where()} in infra/accounts/bootstrap.yaml (DeploymentRole):\n"
            f"{lines}"
        )


class DeployCallRefused(DeployFailed):
    """IAM refused one of the deploy's own calls (SAM CLI's uploads and CloudFormation calls, the image push)."""

    def __init__(self, env: str, role_arn: str, refused: list[Any]) -> None:
        self.env, self.refused = env, refused
        lines = "\n".join(f"  {d.action} on {d.resource} - {d.why}" for d in refused)
        super().__init__(
            f"{env}: IAM refused {len(refused)} call(s) of the deploy itself to {role_arn}; change its policy in "
            f"infra/accounts/bootstrap.yaml (DeploymentRole):\n{lines}"
        )


@dataclass
class Rehearsed:
    """One account after the rehearsal: its deployment role, the image digest deployed, the deploy's output."""

    env: str
    account_id: str
    deployment_role_arn: str
    image_digest: str
    output: str
    seconds: float


def sam_cli() -> str:
    """SAM CLI: $SAM_CLI, else `make`'s venv (.venv-sam), else the PATH's."""
    import shutil

    for candidate in (os.environ.get("SAM_CLI"), str(REPO_ROOT / ".venv-sam" / "bin" / "sam"), shutil.which("sam")):
        if candidate and Path(candidate).exists():
            return candidate
    raise FileNotFoundError("SAM CLI not found: make .venv-sam (see the Makefile), or set SAM_CLI")


# ---------------------------------------------------------------- as the account's administrator


def bootstrap(admin: Any, env: str, repository: str = REPOSITORY) -> dict[str, str]:
    """``aws cloudformation deploy`` of infra/accounts/bootstrap.yaml (``admin``: a CloudFormation client acting as
    the account's administrator); returns its outputs."""
    stack_name = f"slipway-{env}-bootstrap"
    admin.create_stack(
        StackName=stack_name,
        TemplateBody=BOOTSTRAP_PATH.read_text(),
        Parameters=[
            {"ParameterKey": "EnvName", "ParameterValue": env},
            {"ParameterKey": "GitHubRepository", "ParameterValue": repository},
        ],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    stack = admin.describe_stacks(StackName=stack_name)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise RuntimeError(f"stack {stack_name}: {stack['StackStatus']} {stack.get('StackStatusReason')}")
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


# ---------------------------------------------------------------- as CI


def ci_session(
    endpoint_url: str, role_arn: str, env: str, repository: str = REPOSITORY, ref: str = "refs/heads/main"
) -> boto3.Session:
    """The deployment role's session, as ``aws-actions/configure-aws-credentials`` gets it for a job running in the
    GitHub environment ``env`` of ``repository`` on ``ref`` (the bootstrap's DeployBranch is main by default)."""
    from slipway_local.web_identity import token

    subject = f"repo:{repository}:environment:{env}"
    web_token = token(GITHUB_ISSUER, "sts.amazonaws.com", subject, repository=repository, environment=env, ref=ref)
    sts = boto3.client(
        "sts",
        region_name="us-east-1",
        endpoint_url=endpoint_url,
        aws_access_key_id="unused",
        aws_secret_access_key="unused",
    )
    credentials = sts.assume_role_with_web_identity(
        RoleArn=role_arn, RoleSessionName=f"GitHubActions-{env}", WebIdentityToken=web_token
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name="us-east-1",
    )


def lay_out_build(directory: Path, template_path: Path = TEMPLATE_PATH) -> Path:
    """``.aws-sam/build/template.yaml`` in ``directory``: the template with its code paths made absolute (the
    checkout's sources); returns the directory `slipway deploy` runs in."""
    template = load_sam_template(template_path)
    for resource in template.get("Resources", {}).values():
        props = resource.get("Properties") or {}
        for key in _CODE_PATHS:
            if isinstance(props.get(key), str):
                props[key] = str((template_path.parent / props[key]).resolve())
    build = directory / ".aws-sam" / "build"
    build.mkdir(parents=True, exist_ok=True)
    (build / "template.yaml").write_text(json.dumps(template, indent=1))
    return directory


def _samconfig(directory: Path, accounts: dict[str, str]) -> Path:
    """infra/samconfig.toml, with its account ids replaced by these accounts' (docs/deploying.md, step 3) when
    they differ."""
    text = SAMCONFIG_PATH.read_text()
    if all(accounts.get(env, account) == account for env, account in SAMCONFIG_ACCOUNTS.items()):
        return SAMCONFIG_PATH
    for env, account in SAMCONFIG_ACCOUNTS.items():
        text = text.replace(account, accounts.get(env, account))
    copied = directory / "samconfig.toml"
    copied.write_text(text)
    return copied


@contextlib.contextmanager
def _enforced() -> Iterator[None]:
    """IAM enforced (slipway_local.iam) and Lambda images checked against ECR while CI acts."""
    was_enforced = iam.enabled()
    stub = os.environ.get("MOTO_LAMBDA_STUB_ECR")
    iam.enable()
    os.environ["MOTO_LAMBDA_STUB_ECR"] = "false"
    try:
        yield
    finally:
        if not was_enforced:
            iam.disable()
        if stub is None:
            os.environ.pop("MOTO_LAMBDA_STUB_ECR", None)
        else:
            os.environ["MOTO_LAMBDA_STUB_ECR"] = stub


def job_environment(session: boto3.Session, endpoint_url: str) -> dict[str, str]:
    """A CI job's process environment: this process's, with the session's keys as the only AWS credentials (no
    profile, no config file) and every AWS call sent to ``endpoint_url``."""
    credentials = session.get_credentials().get_frozen_credentials()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environment.update(
        AWS_ACCESS_KEY_ID=credentials.access_key,
        AWS_SECRET_ACCESS_KEY=credentials.secret_key,
        AWS_SESSION_TOKEN=credentials.token or "",
        AWS_ENDPOINT_URL=endpoint_url,
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    return environment


def _deploy_environment(session: boto3.Session, endpoint_url: str) -> dict[str, str]:
    environment = job_environment(session, endpoint_url)
    environment.update(
        SAM_CLI_TELEMETRY="0",
        SAM_CLI_POLL_DELAY="0.1",  # SAM's pause between its CloudFormation polls (5 s by default)
        PATH=str(Path(sam_cli()).parent) + os.pathsep + os.environ.get("PATH", ""),
    )
    return environment


def _refused_since(before: Any, role_arn: str) -> list[Any]:
    """The role's refused IAM decisions recorded after ``before`` (slipway_local.iam.DECISIONS), oldest first."""
    newer = []
    for decision in reversed(iam.DECISIONS):
        if decision is before:
            break
        if decision.principal == role_arn and not decision.allowed:
            newer.append(decision)
    return newer[::-1]


def _failures(cloudformation: Any, stack_name: str) -> str:
    """The failed events' reasons of the stack's last operation (what the console shows), or why there are none."""
    try:
        events = cloudformation.describe_stack_events(StackName=stack_name)["StackEvents"]
    except ClientError as error:
        return f"(no stack events: {error})"
    failed = [
        f"{e['LogicalResourceId']} {e['ResourceStatus']}: {e['ResourceStatusReason']}"
        for e in events
        if e.get("ResourceStatusReason") and ("FAILED" in e["ResourceStatus"] or "ROLLBACK" in e["ResourceStatus"])
    ]
    return "; ".join(failed) or "(no failed stack event)"


def deploy_as_ci(
    endpoint_url: str,
    env: str,
    account_id: str,
    role_arn: str,
    accounts: dict[str, str],
    *,
    repository: str = REPOSITORY,
    template_path: Path = TEMPLATE_PATH,
    parameters: tuple[str, ...] = (),
) -> Rehearsed:
    """What deploy-environment.yml does in ``env``'s account: assume the deployment role, push the science image,
    `slipway deploy` (``parameters``: its ``--parameter KEY=VALUE`` options). Raises DeployPermissionError when
    CloudFormation refuses a resource, DeployFailed otherwise."""
    started = time.monotonic()
    with _enforced(), tempfile.TemporaryDirectory(prefix=f"slipway-{env}-deploy-") as scratch:
        before = iam.DECISIONS[-1] if iam.DECISIONS else None
        session = ci_session(endpoint_url, role_arn, env, repository)
        image = images.science_image()
        ecr = session.client("ecr", endpoint_url=endpoint_url)
        try:
            digest = images.push(ecr, f"slipway-{env}-science", image, tag=image.digest.removeprefix("sha256:")[:12])
        except ClientError as error:
            raise DeployCallRefused(env, role_arn, _refused_since(before, role_arn)) from error
        directory = lay_out_build(Path(scratch), template_path)
        config = _samconfig(directory, accounts)
        REFUSALS.pop((account_id, f"slipway-{env}"), None)
        command = [sys.executable, "-m", "slipway_cli.main", "deploy", "--env", env, "--config", str(config)]
        command += ["--image-digest", digest, *(f"--parameter={p}" for p in parameters)]
        result = subprocess.run(
            command,
            cwd=directory,
            env=_deploy_environment(session, endpoint_url),
            stdin=subprocess.DEVNULL,  # a CI runner has no terminal
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        output = result.stdout + result.stderr
        refusal = REFUSALS.get((account_id, f"slipway-{env}"))
        if refusal is not None:
            raise DeployPermissionError(env, refusal)
        if result.returncode != 0:
            refused = _refused_since(before, role_arn)
            if refused:
                raise DeployCallRefused(env, role_arn, refused)
            failed = _failures(session.client("cloudformation", endpoint_url=endpoint_url), f"slipway-{env}")
            raise DeployFailed(f"{env}: slipway deploy exited {result.returncode}: {failed}\n{output[-4000:]}")
    return Rehearsed(env, account_id, role_arn, digest, output, time.monotonic() - started)
