"""`slipway local up`: the local cloud as a moto server on 127.0.0.1, with an AWS config and
credentials file (one profile per environment) and the stacks' outputs written to disk."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from slipway_local.cloud import ACCOUNTS, REGION, LocalCloud


@dataclass(frozen=True)
class ServerFiles:
    config: Path
    credentials: Path
    outputs: Path


def start_server(port: int, rehearse: bool | None = None) -> tuple[object, LocalCloud]:
    """Start moto on 127.0.0.1:port in this process (our patches live here) and deploy (``rehearse``: the user's
    deploy path, LocalCloud's default); port 0: a free port, bound by the server itself (the files and the console
    name it)."""
    # A function's background thread (the infer function's capture sender) may create its boto3 client
    # after its invocation's environment was restored: give the process default keys, as mock_aws does
    # in-process. Calls still reach the right account through the thread's account (routing.py).
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local-cloud")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local-cloud")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    logging.getLogger("moto").setLevel(logging.ERROR)
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning)  # moto: "not supported by CloudFormation"
    from slipway_local.moto_server import LocalMotoServer

    server = LocalMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    port = server.get_host_and_port()[1]
    # The Step Functions interpreter calls back into the server at localhost:$MOTO_PORT.
    os.environ["MOTO_PORT"] = str(port)
    cloud = LocalCloud(endpoint_url=f"http://127.0.0.1:{port}", enforce_iam=True, rehearse=rehearse).start()
    return server, cloud


def write_files(cloud: LocalCloud, directory: Path) -> ServerFiles:
    directory.mkdir(parents=True, exist_ok=True)
    files = ServerFiles(directory / "aws-config", directory / "aws-credentials", directory / "outputs.json")
    config, credentials = [], []
    for env, environment in cloud.environments.items():
        config += [
            f"[profile {env}]",
            f"region = {REGION}",
            f"endpoint_url = {cloud.endpoint_url}",
            "output = json",
            "",
        ]
        credentials += [
            f"[{env}]",
            f"aws_access_key_id = {environment.access_key_id}",
            f"aws_secret_access_key = {environment.secret_access_key}",
            "",
        ]
        for team, (role_arn, key, secret) in environment.teams.items():
            # `<env>-<team>` assumes the team's role with a member's keys (`<env>-<team>-member`), as a person
            # would through an identity account; awscli and boto3 do the AssumeRole themselves.
            profile = f"{env}-{team}"
            config += [
                f"[profile {profile}]",
                f"role_arn = {role_arn}",
                f"source_profile = {profile}-member",
                # the team roles' trust wants the session named after the member (sts:RoleSessionName =
                # ${aws:username}); awscli caches assumed-role keys by the AssumeRole arguments (~/.aws/cli/cache),
                # so an external id of this server's member keys (which the trust does not check) keeps a restarted
                # server from being handed the last one's keys
                f"role_session_name = {team}-member",
                f"external_id = {key[-8:].lower()}",
                f"region = {REGION}",
                f"endpoint_url = {cloud.endpoint_url}",
                "output = json",
                "",
                f"[profile {profile}-member]",
                f"region = {REGION}",
                f"endpoint_url = {cloud.endpoint_url}",
                "",
            ]
            credentials += [
                f"[{profile}-member]",
                f"aws_access_key_id = {key}",
                f"aws_secret_access_key = {secret}",
                "",
            ]
    files.config.write_text("\n".join(config))
    files.credentials.write_text("\n".join(credentials))
    files.credentials.chmod(0o600)
    outputs = {
        env: {
            "account_id": ACCOUNTS[env],
            "endpoint_url": cloud.endpoint_url,
            **({"api_url": _api_url(cloud, env)} if environment.api_urls else {}),
            **(
                {
                    "deployed_by": cloud.rehearsals[env].deployment_role_arn,
                    "image_digest": cloud.rehearsals[env].image_digest,
                }
                if env in cloud.rehearsals
                else {}
            ),
            **environment.outputs,
        }
        for env, environment in cloud.environments.items()
    }
    files.outputs.write_text(json.dumps(outputs, indent=2))
    return files


def _api_url(cloud: LocalCloud, env: str) -> str:
    """The environment's HTTP API (the first, if the template declares several)."""
    return next(iter(cloud.environments[env].api_urls.values()))


def serve(console: Console, port: int, directory: Path, *, rehearse: bool | None = None) -> int:
    """Start the server, write the files, say how to use them, and serve until Ctrl-C or SIGTERM."""
    where = f"127.0.0.1:{port}" if port else "a free port of 127.0.0.1"
    with console.status(f"starting the local cloud on {where} and deploying dev, staging, prod…"):
        _server, cloud = start_server(port, rehearse)
        files = write_files(cloud, directory.resolve())
    console.print(
        f"local cloud up at [bold]{cloud.endpoint_url}[/] (accounts: "
        + ", ".join(f"{e}={env.account_id}" for e, env in cloud.environments.items())
        + ")"
    )
    for env, rehearsed in cloud.rehearsals.items():
        console.print(
            f"{env}: deployed by {rehearsed.deployment_role_arn} through slipway deploy (SAM CLI) in "
            f"{rehearsed.seconds:.1f} s, science image {rehearsed.image_digest[:19]}…",
            style="dim",
            soft_wrap=True,  # one line per account, however narrow the terminal (tests read it)
        )
    if not cloud.rehearsals:
        console.print("stacks created as each account's root (--fast): the deploy path was not rehearsed", style="dim")
    console.print(f"AWS config:      {files.config}")
    console.print(f"AWS credentials: {files.credentials}")
    console.print(f"stack outputs:   {files.outputs}")
    for env, environment in cloud.environments.items():
        for api, url in environment.api_urls.items():
            console.print(f"HTTP API {env + ':':<9}{url}" + ("" if len(environment.api_urls) == 1 else f" ({api})"))
    console.print("use it with:")
    raw = cloud.environments["dev"].outputs["RawBucketName"]
    print(f"  export AWS_CONFIG_FILE={files.config} AWS_SHARED_CREDENTIALS_FILE={files.credentials}")
    print(f"  aws --profile dev s3 cp data.csv s3://{raw}/churn/data.csv")
    print(f"  aws --profile dev-data-engineer s3 cp data.csv s3://{raw}/churn/data.csv   # as a team's role")
    console.print(
        "IAM is enforced for every profile: `<env>-<team>` (data-engineer, ml-engineer, platform, auditor) acts as "
        "that team's role, `<env>` as the environment's operator (all rights).",
        style="dim",
    )
    dev = cloud.environments["dev"]
    if dev.api_urls:  # routes with AWS_IAM auth want SigV4, as on AWS (curl >= 7.75)
        print(
            f'  curl --aws-sigv4 "aws:amz:{REGION}:execute-api" --user "{dev.access_key_id}:{dev.secret_access_key}" '
            f"{_api_url(cloud, 'dev')}/health"
        )
    runner = cloud.schedule_runner()  # EventBridge schedule rules: rate(...) ones fire at their rate
    console.print("schedule rules fire at their rate; `slipway local tick [RULE] --env ENV` fires one now")
    console.print("Ctrl-C stops it.", style="dim")
    sys.stdout.flush()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    runner.stop()
    return 0
