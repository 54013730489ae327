"""LocalCloud: deploys slipway's SAM template into three moto accounts (dev, staging, prod) and
gives users the clients, outputs and execution helpers they would have on AWS."""

from __future__ import annotations

import functools
import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from slipway_local import iam, patches
from slipway_local.faults import INJECTOR, STEP_FAULTS, Fault, StepFault, install_fault_injection
from slipway_local.gateway import HttpApiGateway
from slipway_local.httpapi import Route
from slipway_local.images import science_image
from slipway_local.lambda_runtime import FunctionSource, LambdaRuntime
from slipway_local.packaging import TEMPLATE_PATH, PackagedTemplate, code_version, package, sources
from slipway_local.polling import poll
from slipway_local.rehearsal import Rehearsed
from slipway_local.routing import pin_to_account

REGION = "us-east-1"
ACCOUNTS: dict[str, str] = {"dev": "111111111111", "staging": "222222222222", "prod": "333333333333"}
PROMOTES_TO = {"dev": "staging", "staging": "prod"}  # a version moves dev -> staging -> prod
_FAKE = {"aws_access_key_id": "local-admin", "aws_secret_access_key": "local-admin"}
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
TEAMS = ("data-engineer", "ml-engineer", "platform", "auditor")
ACCOUNTS_TEMPLATE_PATH = TEMPLATE_PATH.parent / "accounts" / "template.yaml"
# Functions that run in this process even when the others run in worker processes: the HTTP API's, whose
# local gateway calls it directly for sub-millisecond latency (a worker adds a pipe round trip per request).
IN_PROCESS = frozenset({"InferFunction"})


_LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


@dataclass
class Environment:
    """One deployed environment stack: its account, outputs and an operator's static keys."""

    name: str
    account_id: str
    stack_name: str
    outputs: dict[str, str] = field(default_factory=dict)
    access_key_id: str = ""
    secret_access_key: str = ""
    functions: dict[str, str] = field(default_factory=dict)  # logical id -> function name
    api_urls: dict[str, str] = field(default_factory=dict)  # HTTP API logical id -> local URL
    # team -> (role ARN, a member's static keys): the member may only assume that role
    teams: dict[str, tuple[str, str, str]] = field(default_factory=dict)


def _realise_bucket(s3: Any, bucket: str, props: dict[str, Any]) -> None:
    """Apply the bucket properties moto's CloudFormation ignores (it keeps only encryption and tags)."""
    if props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    if "PublicAccessBlockConfiguration" in props:
        s3.put_public_access_block(
            Bucket=bucket, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
        )
    notification = props.get("NotificationConfiguration", {})
    if notification.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled"):
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )


def _realise_event_invoke_configs(
    cloud: LocalCloud, env: str, cloudformation: dict[str, Any], physical: dict[str, str]
) -> None:
    """moto's CloudFormation skips ``AWS::Lambda::EventInvokeConfig`` (async retries, on-failure
    destination): put each through the Lambda API, with its queue destination resolved to an ARN."""
    lam, sqs = cloud.admin_client("lambda", env), cloud.admin_client("sqs", env)
    for resource in cloudformation.get("Resources", {}).values():
        if resource["Type"] != "AWS::Lambda::EventInvokeConfig":
            continue
        props = resource["Properties"]
        config: dict[str, Any] = {"MaximumRetryAttempts": props.get("MaximumRetryAttempts", 2)}
        on_failure = props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        if isinstance(on_failure, dict) and "Fn::GetAtt" in on_failure:
            queue_url = physical[on_failure["Fn::GetAtt"][0]]
            arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            config["DestinationConfig"] = {"OnFailure": {"Destination": arn}}
        lam.put_function_event_invoke_config(FunctionName=physical[props["FunctionName"]["Ref"]], **config)


def _role_output(team: str) -> str:
    """``ml-engineer`` -> ``MlEngineerRoleArn`` (the accounts stack's outputs)."""
    return "".join(part.capitalize() for part in team.split("-")) + "RoleArn"


class LocalCloud:
    """In-process (``endpoint_url=None``, moto's ``mock_aws``) or behind a moto server."""

    def __init__(
        self,
        endpoint_url: str | None = None,
        template_path: Path = TEMPLATE_PATH,
        log_level: str = "INFO",
        enforce_iam: bool = False,
        *,
        lambda_processes: bool | None = None,
        in_process: frozenset[str] = IN_PROCESS,
        rehearse: bool | None = None,
    ) -> None:
        """``lambda_processes``: run functions in worker processes (Lambda's Timeout, MemorySize and own
        environment; the default, unless ``SLIPWAY_LOCAL_LAMBDA=threads``) except the logical ids in
        ``in_process``, or every function in this process (False). ``rehearse``: deploy each account the way
        docs/deploying.md tells a user (slipway_local.rehearsal: the bootstrap stack, then the environment stack
        through the deployment role and `slipway deploy`), the default unless ``SLIPWAY_LOCAL_DEPLOY=fast``; False:
        the stack created as the account's root from the local cloud's own packaging (about 4 s an account instead
        of 12-15 s)."""
        self.endpoint_url = endpoint_url
        self.enforce_iam = enforce_iam  # identity policies of callers with IAM/STS keys (slipway_local.iam)
        self.log_level = log_level  # the stack's LogLevel parameter (functions' Powertools level)
        self._code_version = code_version()
        self.template_path = template_path
        if lambda_processes is None:
            lambda_processes = os.environ.get("SLIPWAY_LOCAL_LAMBDA", "processes") != "threads"
        self.runtime = LambdaRuntime(endpoint_url, REGION, processes=lambda_processes, in_process=in_process)
        self.environments: dict[str, Environment] = {}
        if rehearse is None:
            rehearse = os.environ.get("SLIPWAY_LOCAL_DEPLOY", "rehearsal") != "fast"
        self.rehearse = rehearse
        self.rehearsals: dict[str, Rehearsed] = {}  # env -> how its stack was deployed, when rehearsed
        self._gateways: list[HttpApiGateway] = []
        self._mock: Any = None
        self._server: Any = None  # the moto server worker processes reach, when moto runs in this process

    # ------------------------------------------------------------------ lifecycle
    def start(self, envs: tuple[str, ...] = tuple(ACCOUNTS)) -> LocalCloud:
        install_fault_injection(client_side=self.endpoint_url is None)
        patches.install(self.runtime)
        if self.endpoint_url is None:
            from moto import mock_aws

            self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
            self._mock.start()
            # Worker processes reach this in-process moto through a server (idle until one needs it).
            from slipway_local.moto_server import LocalMotoServer

            # Port 0: the server binds a free port itself (a port probed, released and bound again could be taken
            # in between, e.g. by another test process's cloud; moto's start() then waits forever).
            self._server = LocalMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            self._server.start()
            host, port = self._server.get_host_and_port()
            self.runtime.worker_endpoint = f"http://{host}:{port}"
        for env in envs:
            self.environments[env] = self.deploy(env)
        if self.enforce_iam:
            iam.enable()
        return self

    def stop(self) -> None:
        self.wait_idle()
        for gateway in self._gateways:
            gateway.stop()
        self._gateways.clear()
        INJECTOR.clear()
        STEP_FAULTS.clear()
        if self.enforce_iam:
            iam.disable()
        self.runtime.close()
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._mock is not None:
            self._mock.stop()
            self._mock = None

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ clients
    def admin_client(self, service: str, env: str) -> Any:
        """A client acting as the account's root (deployment, inspection in tests)."""
        client = boto3.client(service, region_name=REGION, endpoint_url=self.endpoint_url, **_FAKE)
        return pin_to_account(client, ACCOUNTS[env])

    def session(self, env: str) -> boto3.Session:
        """A session with the environment's operator keys (as in the written credentials file)."""
        e = self.environments[env]
        return boto3.Session(
            aws_access_key_id=e.access_key_id, aws_secret_access_key=e.secret_access_key, region_name=REGION
        )

    def client(self, service: str, env: str, **kwargs: Any) -> Any:
        return self.session(env).client(service, endpoint_url=self.endpoint_url, **kwargs)

    def team_session(self, env: str, team: str, session_name: str | None = None) -> boto3.Session:
        """A session as the team's role in the environment's account (assumed with a member's keys), as
        the written ``<env>-<team>`` profile gives it."""
        role_arn, key, secret = self.environments[env].teams[team]
        member = boto3.Session(aws_access_key_id=key, aws_secret_access_key=secret, region_name=REGION)
        sts = member.client("sts", endpoint_url=self.endpoint_url)
        credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name or f"{team}-member")["Credentials"]
        return boto3.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=REGION,
        )

    # ------------------------------------------------------------------ deployment
    def deploy(self, env: str) -> Environment:
        account = ACCOUNTS[env]
        environment = Environment(env, account, stack_name=f"slipway-{env}")
        iam_client = self.admin_client("iam", env)
        user = "slipway-operator"
        iam_client.create_user(UserName=user)
        iam_client.put_user_policy(
            UserName=user,
            PolicyName="operator",
            PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
            ),
        )
        key = iam_client.create_access_key(UserName=user)["AccessKey"]
        environment.access_key_id, environment.secret_access_key = key["AccessKeyId"], key["SecretAccessKey"]
        bootstrapped = self._bootstrap(env)  # the bootstrap stack goes first (deployment role, bucket, repository)
        self._deploy_teams(environment, iam_client)
        # the PII salt, as the account's administrator keeps it (the stack names it, never holds it)
        self.admin_client("ssm", env).put_parameter(
            Name=f"/slipway/{env}/pii-salt", Type="SecureString", Value=f"local-{env}-pii-salt-0001"
        )
        cfn = self.admin_client("cloudformation", env)
        if self.rehearse:
            sources, cloudformation = self._deploy_as_user(environment, bootstrapped["DeploymentRoleArn"])
        else:
            sources = self._deploy_as_root(environment, bootstrapped["DeploymentBucketName"])
            cloudformation = sources.cloudformation
        stack = cfn.describe_stacks(StackName=environment.stack_name)["Stacks"][0]
        if stack["StackStatus"] not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
            raise RuntimeError(
                f"stack {environment.stack_name}: {stack['StackStatus']} {stack.get('StackStatusReason')}"
            )
        environment.outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        physical = {
            r["LogicalResourceId"]: r["PhysicalResourceId"]
            for r in cfn.describe_stack_resources(StackName=environment.stack_name)["StackResources"]
            if "PhysicalResourceId" in r  # moto lists resources it does not support without one
        }
        s3 = self.admin_client("s3", env)
        for logical_id, props in sources.buckets.items():
            _realise_bucket(s3, physical[logical_id], props)
        for logical_id, source in sources.functions.items():
            name = physical[logical_id]
            environment.functions[logical_id] = name
            self.runtime.register(account, name, source)
        _realise_event_invoke_configs(self, env, cloudformation, physical)
        self._serve_http_apis(environment, sources.http_apis, physical)
        return environment

    def _parameters(self, env: str) -> dict[str, str]:
        return {
            "EnvName": env,
            "LogLevel": self.log_level,
            "CodeVersion": self._code_version,
            "PromotionSourceAccountId": next((ACCOUNTS[s] for s, t in PROMOTES_TO.items() if t == env), ""),
            "PromotionTargetAccountId": ACCOUNTS[PROMOTES_TO[env]] if env in PROMOTES_TO else "",
            "TrainingAccountId": ACCOUNTS["dev"] if env != "dev" else "",
            "CaptureSourceAccountIds": ",".join(ACCOUNTS[e] for e in ACCOUNTS if e != "dev") if env == "dev" else "",
            "ScienceImageDigest": science_image().digest,
        }

    def _deploy_as_root(self, environment: Environment, deploy_bucket: str) -> PackagedTemplate:
        """The fast path: the stack created by the account's root, packaged by the local cloud itself into the
        bootstrap's deployment bucket."""
        env, account = environment.name, environment.account_id
        s3 = self.admin_client("s3", env)
        parameters = self._parameters(env)
        packaged = package(
            parameters,
            account_id=account,
            region=REGION,
            deploy_bucket=deploy_bucket,
            template_path=self.template_path,
        )
        for archive_key, body in packaged.archives.items():
            s3.put_object(Bucket=deploy_bucket, Key=archive_key, Body=body)
        self.admin_client("cloudformation", env).create_stack(
            StackName=environment.stack_name,
            TemplateBody=json.dumps(packaged.cloudformation),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
        return packaged

    def _bootstrap(self, env: str) -> dict[str, str]:
        """infra/accounts/bootstrap.yaml, as the account's administrator (docs/deploying.md, step 1)."""
        from slipway_local.rehearsal import bootstrap

        return bootstrap(self.admin_client("cloudformation", env), env)

    def _deploy_as_user(self, environment: Environment, role_arn: str) -> tuple[PackagedTemplate, dict[str, Any]]:
        """The environment stack as CI deploys it (slipway_local.rehearsal); returns where the handlers live and the
        template CloudFormation processed."""
        from slipway_local.rehearsal import deploy_as_ci

        env = environment.name
        endpoint = self.endpoint_url or self.runtime.worker_endpoint
        assert endpoint, "the local cloud serves no endpoint for SAM CLI"
        self.rehearsals[env] = deploy_as_ci(
            endpoint,
            env,
            environment.account_id,
            role_arn,
            ACCOUNTS,
            template_path=self.template_path,
            parameters=(f"LogLevel={self.log_level}",),
        )
        body = self.admin_client("cloudformation", env).get_template(StackName=environment.stack_name)["TemplateBody"]
        processed = body if isinstance(body, dict) else json.loads(body)
        return sources(account_id=environment.account_id, region=REGION, template_path=self.template_path), processed

    def _deploy_teams(self, environment: Environment, iam_client: Any) -> None:
        """The accounts stack (infra/accounts/template.yaml: team roles under their boundary), deployed before
        the environment stack as on AWS, and one member per team: an IAM user whose only right is to assume
        its team's role (on AWS, people come through an identity account or IAM Identity Center)."""
        cfn = self.admin_client("cloudformation", environment.name)
        stack_name = f"slipway-{environment.name}-accounts"
        cfn.create_stack(
            StackName=stack_name,
            TemplateBody=ACCOUNTS_TEMPLATE_PATH.read_text(),
            # the members below hold plain keys (written to a credentials file): no MFA device to sign in with
            Parameters=[
                {"ParameterKey": "EnvName", "ParameterValue": environment.name},
                {"ParameterKey": "RequireMfa", "ParameterValue": "false"},
            ],
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )
        stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
        if stack["StackStatus"] != "CREATE_COMPLETE":
            raise RuntimeError(f"stack {stack_name}: {stack['StackStatus']} {stack.get('StackStatusReason')}")
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        for team in TEAMS:
            role_arn = outputs[_role_output(team)]
            user = f"{team}-member"
            iam_client.create_user(UserName=user, Tags=[{"Key": "slipway-team", "Value": team}])
            iam_client.put_user_policy(
                UserName=user,
                PolicyName="assume-team-role",
                PolicyDocument=json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}],
                    }
                ),
            )
            key = iam_client.create_access_key(UserName=user)["AccessKey"]
            environment.teams[team] = (role_arn, key["AccessKeyId"], key["SecretAccessKey"])

    def _serve_http_apis(
        self, environment: Environment, apis: dict[str, list[Route]], physical: dict[str, str]
    ) -> None:
        """Serve each HTTP API of the stack on 127.0.0.1 and point its stack outputs there: an output
        holding the API's execute-api URL (``https://<id>.execute-api.<region>.amazonaws.com…``) now
        holds the local URL, in describe-stacks as in ``environment.outputs``."""
        invoke = functools.partial(self.runtime.invoke_function, environment.account_id)
        remote_to_local: dict[str, str] = {}
        for api, routes in apis.items():
            gateway = HttpApiGateway(
                routes,
                environment.functions,
                invoke,
                account_id=environment.account_id,
                api_id=physical[api],
                region=REGION,
            ).start()
            self._gateways.append(gateway)
            environment.api_urls[api] = gateway.url
            remote_to_local[f"https://{physical[api]}.execute-api.{REGION}.amazonaws.com"] = gateway.url
        if not remote_to_local:
            return
        from moto.cloudformation.models import cloudformation_backends

        stacks = cloudformation_backends[environment.account_id][REGION].stacks.values()
        stack = next(s for s in stacks if s.name == environment.stack_name and s.status == "CREATE_COMPLETE")
        for output in stack.output_map.values():
            for remote, local in remote_to_local.items():
                if output is not None and isinstance(output.value, str) and output.value.startswith(remote):
                    output.value = local + output.value[len(remote) :]
                    environment.outputs[output.key] = output.value

    # ------------------------------------------------------------------ serving
    def api_url(self, env: str, api: str | None = None) -> str:
        """The local base URL of the environment's HTTP API (``api``: its logical id, needed only
        when the template declares several), e.g. ``http://127.0.0.1:41234``."""
        urls = self.environments[env].api_urls
        if api is not None:
            return urls[api]
        if len(urls) != 1:
            raise LookupError(f"{env} serves {len(urls)} HTTP APIs ({', '.join(urls) or 'none'}): name one")
        return next(iter(urls.values()))

    def signed_headers(
        self, env: str, method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> dict[str, str]:
        """The headers of a request to the environment's HTTP API signed (SigV4, execute-api) with its
        operator's keys, as `slipway predict` signs them: send them with any HTTP client."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
        credentials = self.session(env).get_credentials()
        SigV4Auth(credentials.get_frozen_credentials(), "execute-api", REGION).add_auth(request)
        return dict(request.headers.items())

    def invoke(self, env: str, function: str, event: Any) -> tuple[str, bool]:
        """Invoke a deployed function synchronously in-process, as Lambda Invoke would, without the
        AWS API: ``function`` is its logical id (``InferFunction``) or its name; returns
        (payload JSON, is_error)."""
        environment = self.environments[env]
        name = environment.functions.get(function, function)
        return self.runtime.invoke_function(environment.account_id, name, event)

    def run_snapstart_hooks(self, env: str, function: str, phase: str) -> int:
        """Run an in-process function's SnapStart hooks (``before_snapshot`` or ``after_restore``) as Lambda runs
        them around a snapshot (LambdaRuntime.run_snapstart_hooks); ``function``: logical id or name."""
        environment = self.environments[env]
        name = environment.functions.get(function, function)
        return self.runtime.run_snapstart_hooks(environment.account_id, name, phase)

    # ------------------------------------------------------------------ schedules
    def tick(self, env: str, rule: str | None = None) -> dict[str, list[str]]:
        """Fire the environment's schedule rules now (``rule``: one of them, by name), as EventBridge does at
        their time; returns what each started (execution ARNs)."""
        from slipway_local.schedules import fire, schedule_rules

        def client(service: str) -> Any:
            return self.admin_client(service, env)

        names = [rule] if rule else [r["Name"] for r in schedule_rules(client("events"))]
        return {name: fire(client, name) for name in names}

    def schedule_runner(self) -> Any:
        """A started thread firing every environment's ``rate(...)`` rules at their rate (`slipway local up`)."""
        from slipway_local.schedules import ScheduleRunner

        runner = ScheduleRunner({env: functools.partial(self.admin_client, env=env) for env in self.environments})
        runner.start()
        return runner

    # ------------------------------------------------------------------ executions
    def executions(self, env: str, state_machine_output: str = "TrainingStateMachineArn") -> list[dict[str, Any]]:
        sfn = self.admin_client("stepfunctions", env)
        arn = self.environments[env].outputs[state_machine_output]
        return sfn.list_executions(stateMachineArn=arn)["executions"]  # type: ignore[no-any-return]

    def wait_for_execution(self, env: str, execution_arn: str, timeout_s: float = 120.0) -> dict[str, Any]:
        """Poll until the execution ends (bounded); returns describe_execution's answer."""
        sfn = self.admin_client("stepfunctions", env)

        def ended() -> dict[str, Any] | None:
            described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
            return described if described["status"] in TERMINAL else None

        return poll(ended, timeout_s=timeout_s, what=f"{execution_arn} still running")

    def wait_for_new_execution(
        self,
        env: str,
        known: set[str],
        timeout_s: float = 30.0,
        state_machine_output: str = "TrainingStateMachineArn",
    ) -> str:
        """Wait until an execution not in ``known`` appears (one started by an event); returns its ARN."""

        def started() -> str | None:
            arns = [e["executionArn"] for e in self.executions(env, state_machine_output)]
            return next((arn for arn in arns if arn not in known), None)

        return poll(started, timeout_s=timeout_s, what=f"no new execution in {env}")

    def wait_idle(self, timeout_s: float = 300.0) -> None:
        """Let every asynchronous invocation and running execution finish (before the mock scope ends)."""
        self.runtime.wait_async_idle(timeout_s)
        self._wait_executions(timeout_s)
        self.runtime.wait_async_idle(timeout_s)  # what the ended executions' status changes started

    def _wait_executions(self, timeout_s: float) -> None:
        for env in self.environments:
            for output, value in self.environments[env].outputs.items():
                if not value.startswith("arn:aws:states:"):
                    continue
                for execution in self.executions(env, output):
                    if execution["status"] == "RUNNING":
                        self.wait_for_execution(env, execution["executionArn"], timeout_s)

    def inject_fault(
        self,
        service: str,
        operation: str,
        *,
        times: int = 1,
        code: str = "SlowDown",
        status: int = 503,
        env: str | None = None,
        applied: bool = False,
    ) -> Fault:
        """The next ``times`` calls of ``service``/``operation`` (botocore's names) fail with ``code``; refused
        by AWS, or with ``applied`` performed and only their response lost."""
        account = ACCOUNTS[env] if env else None
        return INJECTOR.add(Fault(service, operation, code, status, times, account, applied=applied))

    def inject_step_fault(
        self,
        env: str,
        function: str,
        when: str,
        *,
        error_type: str = "TransientError",
        times: int = 1,
        parties: int = 2,
        marker: str | None = None,
    ) -> StepFault:
        """Make the next ``times`` invocations of a function (its logical id, e.g. ``RegisterFunction``) fail
        ``before`` running, ``after`` running (side effects done), or meet at a ``barrier`` of ``parties``;
        with ``marker``, only invocations whose event contains that text (e.g. a model name)."""
        name = self.environments[env].functions[function]
        return STEP_FAULTS.add(StepFault(ACCOUNTS[env], name, when, error_type, times, parties, marker))

    def deploy_function(
        self,
        env: str,
        name: str,
        handler_file: Path,
        handler: str,
        *,
        timeout_s: int = 3,
        memory_mb: int = 128,
        environment: dict[str, str] | None = None,
        in_worker: bool = True,
    ) -> str:
        """Create a function outside the template (through the Lambda API, as ``aws lambda create-function``
        would) that runs ``handler`` (a function name) of ``handler_file``; returns its ARN. For probing
        the local Lambda runtime itself (timeouts, memory, environments): ``in_worker`` runs it in worker
        processes even when the cloud runs the template's functions in-process."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(handler_file.name, handler_file.read_bytes())
        iam = self.admin_client("iam", env)
        role = iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=json.dumps(_LAMBDA_TRUST))
        created = self.admin_client("lambda", env).create_function(
            FunctionName=name,
            Runtime="python3.13",
            Role=role["Role"]["Arn"],
            Handler=f"{handler_file.stem}.{handler}",
            Code={"ZipFile": buffer.getvalue()},
            Timeout=timeout_s,
            MemorySize=memory_mb,
            Environment={"Variables": environment or {}},
        )
        source = FunctionSource(name, handler_file.parent, f"{handler_file.stem}.{handler}")
        self.runtime.register(ACCOUNTS[env], name, source)
        if in_worker:
            self.runtime.in_workers.add((ACCOUNTS[env], name))
        return str(created["FunctionArn"])
