"""`slipway deploy --env ENV --image-digest sha256:…`: `sam deploy` of the environment stack with that environment's
config-env of infra/samconfig.toml (stack, deployment bucket, image repositories, promotion accounts), plus the code
version and the science image's digest (built and pushed once, the same digest in every account). No secret passes
through it: the PII salt is an SSM SecureString the stack only names."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

__all__ = ["deploy_command", "shown"]


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
    sam: str | None = None,
    image_digest: str | None = None,
    parameters: tuple[str, ...] = (),
) -> list[str]:
    """The `sam deploy` command line. ``--parameter-overrides`` on the command line replaces the config's, so the
    config's are repeated first, then ``CodeVersion``, ``ScienceImageDigest`` and ``parameters`` (``KEY=VALUE``)."""
    overrides = _overrides(config, env)
    version = _code_version(config.resolve().parent)
    if version:
        overrides.append(f"CodeVersion={version}")
    if image_digest:
        overrides.append(f"ScienceImageDigest={image_digest}")
    overrides += [p for p in parameters if "=" in p]
    command = [sam or shutil.which("sam") or "sam", "deploy", "--config-file", str(config), "--config-env", env]
    if profile:
        command += ["--profile", profile]
    if region:
        command += ["--region", region]
    return [*command, "--parameter-overrides", *overrides]


def shown(command: list[str]) -> str:
    """The command as printed (it holds no secret)."""
    return shlex.join(command)
