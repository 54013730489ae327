"""Which environment an operator command talks to: an AWS profile (a real account, or the local
server's written profiles) and optional endpoint; its settings come from the stack's outputs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

import boto3

from slipway.composition import aws_deps
from slipway.ports import Deps
from slipway.settings import Settings


@dataclass(frozen=True)
class Target:
    env: str
    session: boto3.Session
    endpoint_url: str | None
    outputs: dict[str, str]

    @property
    def settings(self) -> Settings:
        return Settings(
            env=self.env,
            region=self.session.region_name or "us-east-1",
            raw_bucket=self.outputs["RawBucketName"],
            lake_bucket=self.outputs["LakeBucketName"],
            artifacts_bucket=self.outputs["ArtifactsBucketName"],
            metadata_table=self.outputs["MetadataTableName"],
            online_table=self.outputs.get("OnlineTableName", ""),
            materialise_state_machine_arn=self.outputs.get("MaterialiseStateMachineArn", ""),
            endpoint_url=self.endpoint_url,
            training_state_machine_arn=self.outputs.get("TrainingStateMachineArn", ""),
            principal=self.principal,
            drift_state_machine_arn=self.outputs.get("DriftStateMachineArn", ""),
            drift_schedule_role_arn=self.outputs.get("DriftScheduleRoleArn", ""),
        )

    @cached_property
    def principal(self) -> str:
        """Who acts: the caller's ARN (an IAM user or an assumed role), recorded in the audit trail."""
        return str(self.client("sts").get_caller_identity()["Arn"])

    @property
    def deps(self) -> Deps:
        """The ports on this environment, acting as the target's profile."""
        return aws_deps(self.settings, self.session)

    def client(self, service: str) -> Any:
        return self.session.client(service, endpoint_url=self.endpoint_url)


def stack_outputs(session: boto3.Session, env: str, endpoint_url: str | None) -> dict[str, str]:
    cfn = session.client("cloudformation", endpoint_url=endpoint_url)
    stack = cfn.describe_stacks(StackName=f"slipway-{env}")["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def target_for(
    env: str, profile: str | None = None, endpoint_url: str | None = None, region: str | None = None
) -> Target:
    """A target from an AWS profile (the local server writes one per environment, named after it)."""
    session = boto3.Session(profile_name=profile, region_name=region)
    return Target(env, session, endpoint_url, stack_outputs(session, env, endpoint_url))


class _Stack(Protocol):
    @property
    def outputs(self) -> Mapping[str, str]: ...


class LocalEnvironments(Protocol):
    """What an in-process local cloud (slipway_local.cloud.LocalCloud) offers a target: an environment's operator
    session, its endpoint and its stack outputs (structural: the CLI does not import the local cloud)."""

    @property
    def endpoint_url(self) -> str | None: ...

    @property
    def environments(self) -> Mapping[str, _Stack]: ...

    def session(self, env: str) -> boto3.Session: ...

    def team_session(self, env: str, team: str, session_name: str | None = None) -> boto3.Session: ...


def target_in(cloud: LocalEnvironments, env: str) -> Target:
    """A target inside an in-process local cloud (tests, the demo, benchmarks), with the environment's operator keys."""
    return Target(env, cloud.session(env), cloud.endpoint_url, dict(cloud.environments[env].outputs))


def team_target_in(cloud: LocalEnvironments, env: str, team: str) -> Target:
    """A target inside an in-process local cloud acting as a team's role (assumed by the team's member): another
    person than the operator, e.g. the platform engineer who approves a promotion the operator requested."""
    return Target(env, cloud.team_session(env, team), cloud.endpoint_url, dict(cloud.environments[env].outputs))
