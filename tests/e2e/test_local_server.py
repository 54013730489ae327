"""The local cloud as a user meets it: `slipway local up` on 127.0.0.1, then awscli with the
written profiles uploads a file, and an execution starts in dev only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from slipway_cli.samples import make_churn, to_csv_bytes
from slipway_local.polling import poll

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _written(path: Path, process: subprocess.Popen[str]) -> bool | None:
    if process.poll() is not None:
        raise RuntimeError(f"slipway local up exited: {process.stdout.read() if process.stdout else ''}")
    return True if path.exists() else None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    directory = tmp_path_factory.mktemp("local")
    process = subprocess.Popen(  # port 0: the server binds a free one and writes it into the files
        [str(BIN / "slipway"), "local", "up", "--port", "0", "--dir", str(directory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    try:
        # 90 s for the three accounts' rehearsed deploys (about 47 s on an idle 2-core machine), more under load
        poll(lambda: _written(directory / "outputs.json", process), timeout_s=240, what="no outputs.json")
        env = {
            **os.environ,
            "AWS_CONFIG_FILE": str(directory / "aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(directory / "aws-credentials"),
        }
        for key in (
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "AWS_ENDPOINT_URL",
        ):
            env.pop(key, None)
        outputs = json.loads((directory / "outputs.json").read_text())
        port = urlsplit(outputs["dev"]["endpoint_url"]).port
        assert port, outputs["dev"]["endpoint_url"]
        yield {"dir": directory, "port": port, "env": env, "outputs": outputs}
    finally:
        process.terminate()
        process.wait(timeout=30)


def _aws(server: dict[str, Any], *args: str) -> Any:
    result = subprocess.run([str(BIN / "aws"), *args], env=server["env"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.startswith(("{", "[")) else result.stdout


def test_server_listens_on_loopback_and_writes_profiles(server: dict[str, Any]) -> None:
    config = (server["dir"] / "aws-config").read_text()
    assert f"endpoint_url = http://127.0.0.1:{server['port']}" in config
    for env, account in (("dev", "111111111111"), ("staging", "222222222222"), ("prod", "333333333333")):
        assert f"[profile {env}]" in config
        assert _aws(server, "--profile", env, "sts", "get-caller-identity")["Account"] == account
        assert server["outputs"][env]["account_id"] == account
        # each account deployed as a user deploys it: by its bootstrap's deployment role, the one image's digest
        assert server["outputs"][env]["deployed_by"] == f"arn:aws:iam::{account}:role/slipway-{env}-deployment"
        assert server["outputs"][env]["image_digest"] == server["outputs"]["dev"]["image_digest"]


@pytest.fixture(scope="module")
def uploaded(server: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The churn spec pushed with the CLI and a file copied with awscli, through the dev profile;
    the statuses of dev's executions once the run it started has ended."""
    push = subprocess.run(
        [str(BIN / "slipway"), "spec", "push", str(ROOT / "specs" / "churn.yaml"), "--env", "dev", "--json"],
        env=server["env"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert push.returncode == 0, push.stdout + push.stderr
    assert json.loads(push.stdout)["model"] == "churn"

    data = tmp_path_factory.mktemp("upload") / "churn.csv"
    data.write_bytes(to_csv_bytes(make_churn(n_rows=1_500, seed=31)))
    raw = server["outputs"]["dev"]["RawBucketName"]
    copied = _aws(server, "--profile", "dev", "s3", "cp", str(data), f"s3://{raw}/churn/churn.csv")
    assert f"s3://{raw}/churn/churn.csv" in copied

    arn = server["outputs"]["dev"]["TrainingStateMachineArn"]

    def ended() -> list[str] | None:
        listed = _aws(server, "--profile", "dev", "stepfunctions", "list-executions", "--state-machine-arn", arn)
        statuses = [e["status"] for e in listed["executions"]]
        return statuses if statuses and statuses[0] != "RUNNING" else None

    return poll(ended, timeout_s=120, what="the dev execution is still running")


def test_awscli_upload_starts_an_execution_in_dev_only(server: dict[str, Any], uploaded: list[str]) -> None:
    # GIVEN a file copied to dev's raw bucket with awscli (fixture) THEN one execution succeeded in dev
    assert uploaded == ["SUCCEEDED"]
    # AND none started in staging or prod
    for env in ("staging", "prod"):
        other = server["outputs"][env]["TrainingStateMachineArn"]
        listed = _aws(server, "--profile", env, "stepfunctions", "list-executions", "--state-machine-arn", other)
        assert listed["executions"] == []


def _slipway(server: dict[str, Any], *args: str) -> Any:
    result = subprocess.run(
        [str(BIN / "slipway"), *args, "--env", "dev", "--json"],
        env=server["env"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_cli_shows_runs_models_lineage_and_reproduces(server: dict[str, Any], uploaded: list[str]) -> None:
    # GIVEN the uploaded file's run registered churn v1 in dev
    runs = _slipway(server, "runs", "--model", "churn")
    succeeded = [r for r in runs if r["status"] == "SUCCEEDED"]
    assert succeeded and succeeded[0]["model_version"] == 1

    # THEN the run, the registry, the lineage and a reproduction are all there
    shown = _slipway(server, "runs", "show", succeeded[0]["run_id"])
    assert len(shown["candidates"]) == 4
    assert [m["model"] for m in _slipway(server, "models", "list")] == ["churn"]
    version = _slipway(server, "models", "show", "churn@candidate")
    assert version["version"] == 1 and version["aliases"] == {"candidate": 1, "champion": 1}
    lineage = _slipway(server, "lineage", "churn@1")
    raw = f"s3://{server['outputs']['dev']['RawBucketName']}/churn/churn.csv"
    assert any(node.startswith(f"raw:{raw}") for node in lineage["upstream"])
    assert _slipway(server, "lineage", "--from", raw)["models"] == ["model:churn:1"]
    done = subprocess.run(
        [str(BIN / "slipway"), "reproduce", "churn@1", "--env", "dev", "--json"],
        env=server["env"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    reproduced = json.loads(done.stdout)
    assert reproduced["identical"] is True, json.dumps(reproduced)
    assert done.stderr.startswith("recorded in dev at "), done.stderr  # kept for the console, in the caller's name


def _cli(server: dict[str, Any], *args: str, expect: int = 0) -> Any:
    result = subprocess.run(
        [str(BIN / "slipway"), *args, "--json"],
        env=server["env"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == expect, result.stdout + result.stderr
    return json.loads(result.stdout) if result.stdout.startswith(("{", "[")) else result.stdout


def test_cli_promotes_dev_to_staging_to_prod_with_approval(server: dict[str, Any], uploaded: list[str]) -> None:
    # GIVEN churn v1 registered in dev (fixture) WHEN an operator promotes it into staging, then prod
    staging = _cli(server, "promote", "churn@1", "--from", "dev", "--to", "staging", "--wait", "--reason", "e2e")
    assert (staging["execution"], staging["status"], staging["target_version"]) == ("SUCCEEDED", "SUCCEEDED", 1)
    prod = _cli(server, "promote", "churn@production", "--from", "staging", "--to", "prod", "--wait")
    assert prod["status"] == "WAITING_FOR_APPROVAL" and "slipway approve churn --env prod" in prod["waiting_for"]
    listed = _cli(server, "promotions", "--model", "churn")
    assert [(p["env"], p["status"]) for p in listed] == [("prod", "WAITING_FOR_APPROVAL"), ("staging", "SUCCEEDED")]
    # THEN the operator who asked may not approve it, prod's platform engineer may, and v1 serves in prod
    own = _cli(server, "approve", "churn", "--env", "prod", "--reason", "my own", expect=2)
    assert "another person must answer it" in " ".join(own.split())
    done = _cli(
        server, "approve", "churn", "--env", "prod", "--profile", "prod-platform", "--reason", "reviewed", "--wait"
    )
    assert (done["execution"], done["status"], done["approval"]["reason"]) == ("SUCCEEDED", "SUCCEEDED", "reviewed")
    shown = _cli(server, "aliases", "show", "churn", "--env", "prod")
    assert shown["aliases"]["production"]["version"] == 1
    (move,) = shown["history"]
    assert move["actor"] == server["outputs"]["prod"]["PromotionRoleArn"] and move["execution"].endswith(
        prod["promotion"]
    )
    # AND prod's lineage reaches the object uploaded to dev
    lineage = _cli(server, "lineage", "churn@1", "--env", "prod")
    raw = f"raw:s3://{server['outputs']['dev']['RawBucketName']}/churn/churn.csv"
    assert lineage["upstream"][:2] == ["model:churn:1@staging", "model:churn:1@dev"]
    assert any(node.startswith(raw) for node in lineage["upstream"])
    # AND a rollback with nothing to go back to is refused, typed
    refused = _cli(server, "rollback", "churn", "--env", "prod", "--reason", "nothing earlier", expect=2)
    assert "no earlier production version" in " ".join(refused.split())


def _aws_refused(server: dict[str, Any], *args: str) -> str:
    result = subprocess.run([str(BIN / "aws"), *args], env=server["env"], capture_output=True, text=True, check=False)
    assert result.returncode != 0, f"aws {' '.join(args)} was not refused: {result.stdout}"
    return result.stderr


def test_team_profiles_act_as_their_role_and_are_refused_as_on_aws(server: dict[str, Any], tmp_path: Path) -> None:
    # GIVEN the profiles `slipway local up` wrote: one per team and environment, assuming the team's role
    config = (server["dir"] / "aws-config").read_text()
    for env in ("dev", "staging", "prod"):
        for team in ("data-engineer", "ml-engineer", "platform", "auditor"):
            assert f"[profile {env}-{team}]" in config
    identity = _aws(server, "--profile", "prod-data-engineer", "sts", "get-caller-identity")
    assert identity["Arn"].startswith("arn:aws:sts::333333333333:assumed-role/slipway-prod-data-engineer/")
    data = tmp_path / "rows.csv"
    data.write_text("a,b\n1,2\n")
    prod_raw = server["outputs"]["prod"]["RawBucketName"]
    # WHEN a data engineer copies a file into prod's raw bucket THEN AWS (here the local cloud) refuses it
    refused = _aws_refused(
        server, "--profile", "prod-data-engineer", "s3", "cp", str(data), f"s3://{prod_raw}/churn/x.csv"
    )
    assert "AccessDenied" in refused and "slipway-prod-data-engineer" in refused
    # AND the auditor may not list dev's raw data, which dev's data engineers may
    dev_raw = server["outputs"]["dev"]["RawBucketName"]
    assert "AccessDenied" in _aws_refused(server, "--profile", "dev-auditor", "s3", "ls", f"s3://{dev_raw}/")
    _aws(server, "--profile", "dev-data-engineer", "s3", "ls", f"s3://{dev_raw}/")
    # AND no team of dev reads prod's lake (identity policy and prod's bucket policy both refuse)
    prod_lake = server["outputs"]["prod"]["LakeBucketName"]
    assert "AccessDenied" in _aws_refused(server, "--profile", "dev-ml-engineer", "s3", "ls", f"s3://{prod_lake}/")
    # AND an ML engineer starts no training in prod
    arn = server["outputs"]["prod"]["TrainingStateMachineArn"]
    refused = _aws_refused(
        server, "--profile", "prod-ml-engineer", "stepfunctions", "start-execution", "--state-machine-arn", arn
    )
    assert "AccessDenied" in refused


def test_a_monitored_spec_schedules_checks_that_tick_and_the_cli_fire(
    server: dict[str, Any], uploaded: list[str], tmp_path: Path
) -> None:
    # GIVEN churn's spec with a monitoring section, pushed with the CLI
    spec = tmp_path / "churn.yaml"
    spec.write_text((ROOT / "specs" / "churn.yaml").read_text() + "\nmonitoring:\n  schedule: rate(6 hours)\n")
    pushed = _slipway(server, "spec", "push", str(spec))
    assert pushed["drift_schedule"] == "rate(6 hours)"
    rule = _aws(server, "--profile", "dev", "events", "describe-rule", "--name", "slipway-dev-drift-churn")
    assert rule["ScheduleExpression"] == "rate(6 hours)"

    # WHEN `slipway local tick` fires it from another process THEN the drift machine runs the check
    fired = _slipway(server, "local", "tick", "slipway-dev-drift-churn")
    (arn,) = fired["slipway-dev-drift-churn"]

    def ended() -> dict[str, Any] | None:
        described = _aws(server, "--profile", "dev", "stepfunctions", "describe-execution", "--execution-arn", arn)
        return described if described["status"] != "RUNNING" else None

    described = poll(ended, timeout_s=60, what="the drift check is still running")
    assert described["status"] == "SUCCEEDED", described
    # nothing is in production in dev: the check says so
    assert json.loads(described["output"])["check"]["result"]["status"] == "nothing_in_production"

    # AND `slipway drift` runs one now: with v1 in production and no traffic, no verdict, said so
    _slipway(server, "aliases", "set", "churn", "production", "1", "--reason", "e2e drift")
    checked = _slipway(server, "drift", "churn", "--window", "1h")
    assert (checked["status"], checked["rows"], checked["dataset"]) == ("checked", 0, "insufficient_data")
    history = _slipway(server, "drift", "history", "churn")
    assert [h["check_id"] for h in history] == [checked["check_id"]]
