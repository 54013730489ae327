"""`slipway deploy --env ENV`: `sam deploy` of the environment stack with that environment's config-env of
infra/samconfig.toml (stack, profile, deployment bucket, image repositories, promotion accounts), plus what
is not kept there: the PII salt (a secret, read from an environment variable) and the code version."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

__all__ = ["SECRET_VARIABLE", "deploy_command", "shown"]

SECRET_VARIABLE = "SLIPWAY_PII_SALT"


def _overrides(config: Path, env: str) -> list[str]:
    settings = tomllib.loads(config.read_text())
    try:
        parameters = settings[env]["deploy"]["parameters"]
    except KeyError:
        raise SystemExit(f"{config} has no [{env}.deploy.parameters]") from None
    return shlex.split(str(parameters.get("parameter_overrides", "")))


def _code_version(root: Path) -> str:
    found = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=False)
    return found.stdout.strip() if found.returncode == 0 else ""


def deploy_command(
    env: str,
    config: Path,
    *,
    profile: str | None = None,
    region: str | None = None,
    pii_salt: str | None = None,
    sam: str | None = None,
) -> list[str]:
    """The `sam deploy` command line. ``--parameter-overrides`` on the command line replaces the config's, so the
    config's are repeated first, then ``PiiSalt`` and ``CodeVersion``."""
    salt = pii_salt if pii_salt is not None else os.environ.get(SECRET_VARIABLE)
    if not salt:
        raise SystemExit(f"set {SECRET_VARIABLE} to the environment's PII salt (16+ characters; keep it stable)")
    overrides = [*_overrides(config, env), f"PiiSalt={salt}"]
    version = _code_version(config.resolve().parent)
    if version:
        overrides.append(f"CodeVersion={version}")
    command = [sam or shutil.which("sam") or "sam", "deploy", "--config-file", str(config), "--config-env", env]
    if profile:
        command += ["--profile", profile]
    if region:
        command += ["--region", region]
    return [*command, "--parameter-overrides", *overrides]


def shown(command: list[str]) -> str:
    """The command as printed: the salt masked."""
    return shlex.join(part if not part.startswith("PiiSalt=") else "PiiSalt=****" for part in command)
