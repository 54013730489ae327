"""`slipway deploy --env ENV` runs `sam deploy` with that environment's config-env, its promotion accounts
and the code version; no secret passes through it (the PII salt is an SSM SecureString the stack names)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from slipway_cli.deploy import deploy_command, shown
from slipway_local.packaging import load_sam_template

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "infra" / "samconfig.toml"


@pytest.mark.parametrize(
    ("env", "promotion"),
    [
        ("dev", ["PromotionTargetAccountId=222222222222", "CaptureSourceAccountIds=222222222222,333333333333"]),
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


def test_every_image_function_runs_the_one_image_by_digest_and_sam_never_builds_it() -> None:
    template = load_sam_template(ROOT / "infra" / "template.yaml")
    images = {
        name: resource
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function" and resource["Properties"].get("PackageType") == "Image"
    }
    assert {"CurateRetrainingSetFunction", "ComputeDriftFunction", "ValidateFunction"} <= set(images)
    for name, resource in images.items():
        uri = resource["Properties"]["ImageUri"]["Fn::Sub"]
        assert uri.endswith("/slipway-${EnvName}-science@${ScienceImageDigest}"), name
        assert uri.startswith("${AWS::AccountId}.dkr.ecr."), name  # the account's own repository, never another's
        assert resource["Metadata"]["SkipBuild"] is True, name
    pattern = template["Parameters"]["ScienceImageDigest"]["AllowedPattern"]
    assert re.fullmatch(pattern, "sha256:" + "ab" * 32)
    assert not re.fullmatch(pattern, "latest")


def test_the_image_goes_to_sam_as_the_science_image_parameter() -> None:
    digest = "sha256:" + "0" * 64
    command = deploy_command("staging", CONFIG, sam="sam", image_digest=digest)
    assert command[-1] == f"ScienceImageDigest={digest}"


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


def test_the_cli_refuses_a_deploy_without_the_image() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "slipway_cli.main", "deploy", "--env", "dev"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "400"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2 and "--image-digest is required" in result.stdout


def test_ci_installs_exactly_the_project_pins_with_hashes() -> None:
    # .github/requirements-ci.txt: what the workflow installs before taking cloud credentials (pip --require-hashes)
    lock = (ROOT / ".github" / "requirements-ci.txt").read_text()
    pins = dict(re.findall(r"^([a-z0-9._-]+)==(\S+) \\$", lock, flags=re.MULTILINE))
    entry = r"^[a-z0-9._-]+==\S+ \\\n(?:\s+--hash=sha256:[0-9a-f]{64}(?: \\)?\n)+"
    hashed = re.findall(entry, lock, flags=re.MULTILINE)
    assert len(hashed) == len(pins) > 30
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for dependency in project["dependencies"]:
        name, version = dependency.split("==")
        assert pins.get(name.lower()) == version, f"{dependency}: the CI lock has {pins.get(name.lower())}"
    assert {"setuptools", "wheel"} <= set(pins)  # the build backend too (pip install --no-build-isolation .)


@pytest.mark.parametrize("workflow", sorted((ROOT / ".github" / "workflows").glob("*.yml")), ids=lambda p: p.name)
def test_workflow_actions_are_pinned_and_installs_precede_credentials(workflow: Path) -> None:
    text = workflow.read_text()
    for action in re.findall(r"^\s*(?:- )?uses: (\S+)", text, flags=re.MULTILINE):
        assert action.startswith("./") or re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), action
    for job in re.split(r"\n  (?=[\w-]+:\n)", text.split("\njobs:\n", 1)[1]):
        installs = [m.start() for m in re.finditer(r"pip install", job)]
        credentials = job.find("configure-aws-credentials")
        if credentials < 0:
            continue
        assert installs and max(installs) < credentials, f"{workflow.name}: an install after the credentials"
        for line in re.findall(r"pip install[^\n]*", job):
            assert "--require-hashes" in line or line.endswith("--no-deps --no-build-isolation ."), line
