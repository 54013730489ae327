"""The workflow's dev integration job (.github/workflows/deploy.yml, ``integration-dev``) run as it runs in CI: as the
deployment role (GitHub's OIDC exchange, slipway_local.rehearsal.ci_session), the same commands in the same order —
``slipway spec push``, ``slipway sample``, ``aws cloudformation describe-stacks``, ``aws s3 cp`` — then the job's
polling of ``list-executions`` (the same call, through boto3, bounded instead of ``sleep 10``).

IAM is enforced on every call, in audit mode for the role (slipway_local.iam.AUDITED): a call the role may not make
is recorded, not refused, so that one run names everything the job lacks; the job's result says whether its
training run succeeded and what was refused, each with the command that made the call."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from slipway_local import iam
from slipway_local.packaging import REPO_ROOT
from slipway_local.polling import poll

__all__ = ["JOB_COMMANDS", "JobRun", "Refused", "run_integration_job"]

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "deploy.yml"
SPEC = REPO_ROOT / "specs" / "churn.yaml"  # the example spec the job pushes (a file of the checkout)
# The job's commands as the workflow's script spells them (a test keeps them in step with deploy.yml)
JOB_COMMANDS = (
    'slipway spec push specs/churn.yaml --env dev --profile "" --reason "CI ${GITHUB_SHA}"',
    "slipway sample churn --rows 5000 --out churn.csv",
    "aws cloudformation describe-stacks --stack-name slipway-dev",
    'aws s3 cp churn.csv "s3://${RAW}/churn/ci-${GITHUB_SHA}.csv"',
    'aws stepfunctions list-executions --state-machine-arn "$MACHINE" --max-results 1',
)


@dataclass(frozen=True)
class Refused:
    command: str
    action: str
    resource: str
    why: str

    def line(self) -> str:
        return f"{self.command}: {self.action} on {self.resource} - {self.why}"


@dataclass
class JobRun:
    status: str  # the newest training execution's status at the end, as the job reads it
    refused: list[Refused] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)


def _environment(session: boto3.Session, endpoint_url: str) -> dict[str, str]:
    from slipway_local.rehearsal import job_environment

    return {**job_environment(session, endpoint_url), "GITHUB_SHA": "0" * 40}


def run_integration_job(
    endpoint_url: str, session: boto3.Session, *, rows: int = 5000, timeout_s: float = 180.0
) -> JobRun:
    """Run the job in dev with ``session`` (the deployment role's); see the module's docstring."""
    principal = str(session.client("sts", endpoint_url=endpoint_url).get_caller_identity()["Arn"])
    role_arn = _role_of(principal)
    environment = _environment(session, endpoint_url)
    run = JobRun(status="None")
    was_enforced = iam.enabled()
    iam.enable()
    iam.AUDITED.add(role_arn)
    try:
        with tempfile.TemporaryDirectory(prefix="slipway-ci-") as scratch:
            csv = Path(scratch) / "churn.csv"

            def step(command: str, *argv: str) -> str:
                seen = _last_decision()
                result = subprocess.run(
                    argv, env=environment, cwd=REPO_ROOT, capture_output=True, text=True, check=False, timeout=300
                )
                run.outputs.append(f"$ {command}\n{result.stdout}{result.stderr}")
                run.refused.extend(_refused_since(seen, role_arn, command))
                if result.returncode != 0:
                    raise RuntimeError(f"{command} exited {result.returncode}: {result.stdout}{result.stderr}")
                return result.stdout.strip()

            slipway = (sys.executable, "-m", "slipway_cli.main")
            aws = (sys.executable, "-m", "awscli")
            step(JOB_COMMANDS[0], *slipway, "spec", "push", str(SPEC), "--env", "dev", "--profile", "",
                 "--reason", f"CI {environment['GITHUB_SHA']}")  # fmt: skip
            step(JOB_COMMANDS[1], *slipway, "sample", "churn", "--rows", str(rows), "--out", str(csv))
            outputs = json.loads(step(JOB_COMMANDS[2], *aws, "cloudformation", "describe-stacks", "--stack-name",
                                      "slipway-dev"))["Stacks"][0]["Outputs"]  # fmt: skip
            output = {o["OutputKey"]: o["OutputValue"] for o in outputs}
            raw, machine = output["RawBucketName"], output["TrainingStateMachineArn"]
            step(JOB_COMMANDS[3], *aws, "s3", "cp", str(csv), f"s3://{raw}/churn/ci-{environment['GITHUB_SHA']}.csv")
            run.status = _newest_status(session, endpoint_url, machine, role_arn, run, timeout_s)
    finally:
        iam.AUDITED.discard(role_arn)
        if not was_enforced:
            iam.disable()
    return run


def _newest_status(
    session: boto3.Session, endpoint_url: str, machine: str, role_arn: str, run: JobRun, timeout_s: float
) -> str:
    sfn = session.client("stepfunctions", endpoint_url=endpoint_url)

    def ended() -> str | None:
        seen = _last_decision()
        executions = sfn.list_executions(stateMachineArn=machine, maxResults=1)["executions"]
        for refused in _refused_since(seen, role_arn, JOB_COMMANDS[4]):
            if refused not in run.refused:
                run.refused.append(refused)
        status = executions[0]["status"] if executions else "None"
        return None if status in ("RUNNING", "None") else str(status)

    return poll(ended, timeout_s=timeout_s, what="the integration job's training run is still running")


def _role_of(principal: str) -> str:
    """``arn:aws:sts::A:assumed-role/R/S`` -> ``arn:aws:iam::A:role/R`` (what DECISIONS name)."""
    if ":assumed-role/" not in principal:
        return principal
    account = principal.split(":")[4]
    return f"arn:aws:iam::{account}:role/{principal.split('/')[1]}"


def _last_decision() -> Any:
    return iam.DECISIONS[-1] if iam.DECISIONS else None


def _refused_since(seen: Any, role_arn: str, command: str) -> list[Refused]:
    """The role's refused decisions recorded after ``seen`` (the last decision before the command ran)."""
    newer = []
    for decision in reversed(iam.DECISIONS):
        if decision is seen:
            break
        newer.append(decision)
    found: list[Refused] = []
    for d in reversed(newer):
        refused = Refused(command, d.action, d.resource, d.why)
        if d.principal == role_arn and not d.allowed and refused not in found:
            found.append(refused)
    return found
