"""`slipway deploy --env ENV` runs `sam deploy` with that environment's config-env, its promotion accounts,
the PII salt from the environment (never printed) and the code version."""

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
        ("staging", ["PromotionSourceAccountId=111111111111", "PromotionTargetAccountId=333333333333"]),
        ("prod", ["PromotionSourceAccountId=222222222222"]),
    ],
)
def test_the_command_carries_the_environments_config_and_secret(env: str, promotion: list[str]) -> None:
    command = deploy_command(env, CONFIG, pii_salt="s" * 16, sam="sam")
    assert command[:6] == ["sam", "deploy", "--config-file", str(CONFIG), "--config-env", env]
    overrides = command[command.index("--parameter-overrides") + 1 :]
    assert overrides[0] == f"EnvName={env}" and overrides[1 : 1 + len(promotion)] == promotion
    assert f"PiiSalt={'s' * 16}" in overrides
    assert any(o.startswith("CodeVersion=") and len(o) == len("CodeVersion=") + 40 for o in overrides)
    assert "PiiSalt=****" in shown(command) and "s" * 16 not in shown(command)


def test_every_environment_deploys_its_own_stack_and_prod_asks_for_confirmation() -> None:
    config = tomllib.loads(CONFIG.read_text())
    for env in ("dev", "staging", "prod"):
        deploy = config[env]["deploy"]["parameters"]
        assert deploy["stack_name"] == f"slipway-{env}"
        assert deploy["s3_bucket"].endswith(f"-{env}-deploy")
        assert len(deploy["image_repositories"]) == 6  # every image function of the template
    assert config["prod"]["deploy"]["parameters"]["confirm_changeset"] is True


def test_without_the_salt_nothing_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLIPWAY_PII_SALT", raising=False)
    with pytest.raises(SystemExit, match="SLIPWAY_PII_SALT"):
        deploy_command("dev", CONFIG)


def test_the_cli_prints_the_command_on_a_dry_run() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "slipway_cli.main", "deploy", "--env", "staging", "--dry-run"],
        cwd=ROOT,
        env={"SLIPWAY_PII_SALT": "x" * 20, "PATH": "/usr/bin:/bin", "COLUMNS": "400"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "--config-env staging" in result.stdout and "PiiSalt=****" in result.stdout
