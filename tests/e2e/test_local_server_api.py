"""`slipway local up` serves each environment's HTTP API the way AWS does: it prints the URLs and
writes them beside the stack outputs; curl signs with a written profile's keys (SigV4, as the
API's IAM auth wants) and gets an answer, unsigned it gets 403; captures put on the environment's
Firehose stream with awscli land partitioned in its lake bucket."""

from __future__ import annotations

import configparser
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from slipway_local.polling import poll

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    directory = tmp_path_factory.mktemp("local-api")
    log = directory / "stdout.txt"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(BIN / "slipway"), "local", "up", "--port", "0", "--dir", str(directory)],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
        )

    def ready() -> str | None:
        if process.poll() is not None:
            raise RuntimeError(f"slipway local up exited: {log.read_text()}")
        text = log.read_text()
        return text if "Ctrl-C stops it" in text else None

    try:
        # the three accounts' rehearsed deploys take about 47 s on an idle 2-core machine, more under load
        printed = poll(ready, timeout_s=240, what="slipway local up is not serving")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["AWS_CONFIG_FILE"] = str(directory / "aws-config")
        env["AWS_SHARED_CREDENTIALS_FILE"] = str(directory / "aws-credentials")
        credentials = configparser.ConfigParser()
        credentials.read(directory / "aws-credentials")
        yield {
            "printed": printed,
            "outputs": json.loads((directory / "outputs.json").read_text()),
            "credentials": credentials,
            "env": env,
        }
    finally:
        process.terminate()
        process.wait(timeout=30)


def _curl(*args: str) -> tuple[int, Any]:
    result = subprocess.run(
        ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", *args], capture_output=True, text=True, check=True
    )
    body, _, status = result.stdout.rpartition("\n")
    return int(status), json.loads(body)


def test_each_environment_has_its_api_url_printed_and_written(served: dict[str, Any]) -> None:
    urls = set()
    for env in ("dev", "staging", "prod"):
        outputs = served["outputs"][env]
        assert outputs["api_url"] == outputs["HttpApiUrl"]
        assert outputs["api_url"].startswith("http://127.0.0.1:")
        assert f"HTTP API {env}:" in served["printed"] and outputs["api_url"] in served["printed"]
        # AND how the account was deployed: by its deployment role, through slipway deploy
        assert f"{env}: deployed by {outputs['deployed_by']} through slipway deploy (SAM CLI)" in served["printed"]
        urls.add(outputs["api_url"])
    assert len(urls) == 3


def test_curl_signed_with_a_profiles_keys_is_answered_and_unsigned_is_refused(served: dict[str, Any]) -> None:
    url = served["outputs"]["dev"]["api_url"]
    keys = served["credentials"]["dev"]
    user = f"{keys['aws_access_key_id']}:{keys['aws_secret_access_key']}"
    # WHEN curl signs as the dev profile THEN the infer function answers
    status, body = _curl("--aws-sigv4", "aws:amz:us-east-1:execute-api", "--user", user, f"{url}/health")
    assert (status, body["status"]) == (200, "ok")
    # AND a model that does not exist is the function's own 404, not the gateway's
    status, body = _curl(
        "--aws-sigv4",
        "aws:amz:us-east-1:execute-api",
        "--user",
        user,
        "-H",
        "content-type: application/json",
        "-d",
        '{"instances": [{"tenure": 3}]}',
        f"{url}/v1/models/no-such-model/predict",
    )
    assert status == 404 and body != {"message": "Not Found"}
    # WHEN unsigned, or signed with staging's keys THEN 403, as API Gateway answers
    assert _curl(f"{url}/health") == (403, {"message": "Forbidden"})
    staging = served["credentials"]["staging"]
    other = f"{staging['aws_access_key_id']}:{staging['aws_secret_access_key']}"
    status, _ = _curl("--aws-sigv4", "aws:amz:us-east-1:execute-api", "--user", other, f"{url}/health")
    assert status == 403


def _aws(served: dict[str, Any], *args: str) -> str:
    result = subprocess.run([str(BIN / "aws"), *args], env=served["env"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_awscli_firehose_records_land_partitioned_in_the_lake(served: dict[str, Any], tmp_path: Path) -> None:
    outputs = served["outputs"]["dev"]
    records = [
        {"kind": "captures", "model": "e2e-churn", "request_id": "a"},
        {"kind": "feedback", "model": "e2e-churn", "request_id": "a", "label": 1},
    ]
    batch = tmp_path / "records.json"
    batch.write_text(json.dumps([{"Data": json.dumps(r)} for r in records]))
    put = json.loads(
        _aws(
            served,
            "--profile",
            "dev",
            "firehose",
            "put-record-batch",
            "--delivery-stream-name",
            outputs["CaptureStreamName"],
            "--records",
            f"file://{batch}",
        )
    )
    assert put["FailedPutCount"] == 0
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    for record in records:
        prefix = f"{record['kind']}/e2e-churn/dt={day}/"
        lake = outputs["LakeBucketName"]
        listed = _aws(served, "--profile", "dev", "s3api", "list-objects-v2", "--bucket", lake, "--prefix", prefix)
        [item] = json.loads(listed)["Contents"]
        body = _aws(served, "--profile", "dev", "s3", "cp", f"s3://{lake}/{item['Key']}", "-")
        assert [json.loads(line) for line in body.splitlines()] == [record]
