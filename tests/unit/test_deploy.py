"""`slipway deploy --env ENV` runs `sam deploy` with that environment's config-env, its promotion accounts
and the code version; no secret passes through it (the PII salt is an SSM SecureString the stack names)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from slipway_cli.deploy import deploy_command, shown

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "infra" / "samconfig.toml"


@pytest.mark.parametrize(
    ("env", "promotion"),
    [
        ("dev", ["PromotionTargetAccountId=222222222222"]),
        (
            "staging",
            [
                "PromotionSourceAccountId=111111111111",
                "PromotionTargetAccountId=333333333333",
                "TrainingAccountId=111111111111",
            ],
        ),
        ("prod", ["PromotionSourceAccountId=222222222222", "TrainingAccountId=111111111111"]),
    ],
)
def test_the_command_carries_the_environments_config(env: str, promotion: list[str]) -> None:
    command = deploy_command(env, CONFIG, sam="sam")
    assert command[:6] == ["sam", "deploy", "--config-file", str(CONFIG), "--config-env", env]
    overrides = command[command.index("--parameter-overrides") + 1 :]
    assert overrides[0] == f"EnvName={env}" and overrides[1 : 1 + len(promotion)] == promotion
    assert any(o.startswith("CodeVersion=") and len(o) == len("CodeVersion=") + 40 for o in overrides)
    assert not any(o.startswith("PiiSalt") for o in overrides)
    assert shown(command).startswith(f"sam deploy --config-file {CONFIG} --config-env {env}")


def test_every_environment_deploys_its_own_stack_with_every_image_function_and_no_prompt() -> None:
    from samtranslator.yaml_helper import yaml_parse

    config = tomllib.loads(CONFIG.read_text())
    template = yaml_parse((ROOT / "infra" / "template.yaml").read_text())
    images = {
        name
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function" and resource["Properties"].get("PackageType") == "Image"
    }
    for env in ("dev", "staging", "prod"):
        deploy = config[env]["deploy"]["parameters"]
        assert deploy["stack_name"] == f"slipway-{env}"
        assert deploy["s3_bucket"].endswith(f"-{env}-deploy")
        # sam deploy refuses a list that misses one image function ("Incomplete list of function logical ids")
        assert {entry.split("=")[0] for entry in deploy["image_repositories"]} == images
        # a CI runner has no terminal: a confirmation prompt aborts the deploy (the approval is the environment's)
        assert deploy["confirm_changeset"] is False


def test_the_template_names_the_salt_and_never_holds_it() -> None:
    template = (ROOT / "infra" / "template.yaml").read_text()
    assert "\n  PiiSalt:" not in template and "!Ref PiiSalt" not in template and "PII_SALT:" not in template
    assert "PII_SALT_PARAMETER: !Sub /slipway/${EnvName}/pii-salt" in template


def test_the_cli_prints_the_command_on_a_dry_run() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "slipway_cli.main", "deploy", "--env", "staging", "--dry-run"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "400"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "--config-env staging" in result.stdout
