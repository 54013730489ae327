"""What `sam build && sam package` does for the local cloud: resolve the template's local code
paths (zip to a deployment bucket, inline state machine definitions, name the science image),
then transform SAM into plain CloudFormation with aws-sam-translator."""

from __future__ import annotations

import io
import json
import os
import subprocess
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slipway_local.httpapi import Route, http_api_routes
from slipway_local.lambda_runtime import FunctionSource

REPO_ROOT = Path(__file__).resolve().parents[3]
TEMPLATE_PATH = REPO_ROOT / "infra" / "template.yaml"
SCIENCE_IMAGE_REPOSITORY = "slipway-science"


@dataclass
class PackagedTemplate:
    """A CloudFormation template ready for moto, the code archives it references, and where each
    function's handler lives in the repository."""

    cloudformation: dict[str, Any]
    archives: dict[str, bytes] = field(default_factory=dict)  # S3 key -> zip bytes
    functions: dict[str, FunctionSource] = field(default_factory=dict)  # logical id -> source
    buckets: dict[str, dict[str, Any]] = field(default_factory=dict)  # logical id -> bucket Properties
    http_apis: dict[str, list[Route]] = field(default_factory=dict)  # HTTP API logical id -> its routes


def code_version(root: Path = REPO_ROOT) -> str:
    """The git SHA of the working tree, as `sam deploy --parameter-overrides CodeVersion=...` passes it
    ('' outside a git checkout: the functions then record the package version)."""
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=False)
    except OSError:
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


def load_sam_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    from samtranslator.yaml_helper import yaml_parse

    return yaml_parse(path.read_text())  # type: ignore[no-any-return]


def _zip_dir(root: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                info = zipfile.ZipInfo(str(path.relative_to(root)), date_time=(1980, 1, 1, 0, 0, 0))
                archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


class _NoManagedPolicies:
    """The template names managed policies by ARN only, so no IAM lookup is needed."""

    def load(self) -> dict[str, str]:
        return {}


def package(
    parameters: dict[str, str],
    *,
    account_id: str,
    region: str,
    deploy_bucket: str,
    template_path: Path = TEMPLATE_PATH,
) -> PackagedTemplate:
    from samtranslator.translator.transform import transform

    template = load_sam_template(template_path)
    packaged = _walk(template, template_path.parent, account_id=account_id, region=region, deploy_bucket=deploy_bucket)
    # The translator reads the region from the environment for pseudo parameters.
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    packaged.cloudformation = transform(template, dict(parameters), _NoManagedPolicies())
    return packaged


def sources(*, account_id: str, region: str, template_path: Path = TEMPLATE_PATH) -> PackagedTemplate:
    """What the local cloud realises after a stack is deployed by other means (`sam deploy` in the rehearsal):
    each function's handler in the checkout, the buckets' properties and the HTTP API routes; no archives, no
    transform (``cloudformation`` is left empty)."""
    return _walk(load_sam_template(template_path), template_path.parent, account_id=account_id, region=region)


def _walk(
    template: dict[str, Any], base: Path, *, account_id: str, region: str, deploy_bucket: str | None = None
) -> PackagedTemplate:
    """One pass over the SAM template's resources; with a deploy bucket, also resolve the local code paths as
    `sam package` does (zip archives, inline definitions, the science image's name)."""
    packaged = PackagedTemplate(cloudformation={}, http_apis=http_api_routes(template))
    for logical_id, resource in template.get("Resources", {}).items():
        props = resource.get("Properties", {})
        kind = resource["Type"]
        if kind == "AWS::Serverless::Function":
            if props.get("PackageType") == "Image":
                context = (base / resource.get("Metadata", {}).get("DockerContext", ".")).resolve()
                handler = props["ImageConfig"]["Command"][0]
                tag = resource.get("Metadata", {}).get("DockerTag", "latest")
                if deploy_bucket is not None:
                    image = f"{account_id}.dkr.ecr.{region}.amazonaws.com/{SCIENCE_IMAGE_REPOSITORY}:{tag}"
                    props["ImageUri"] = image
                packaged.functions[logical_id] = FunctionSource(logical_id, context, handler)
            else:
                code_root = (base / props["CodeUri"]).resolve()
                packaged.functions[logical_id] = FunctionSource(logical_id, code_root, props["Handler"])
                if deploy_bucket is not None:
                    key = f"code/{logical_id}.zip"
                    packaged.archives[key] = _zip_dir(code_root)
                    props["CodeUri"] = {"Bucket": deploy_bucket, "Key": key}
        elif kind == "AWS::Serverless::LayerVersion" and deploy_bucket is not None:
            key = f"layers/{logical_id}.zip"
            packaged.archives[key] = _zip_dir((base / props["ContentUri"]).resolve())
            props["ContentUri"] = {"Bucket": deploy_bucket, "Key": key}
        elif kind == "AWS::Serverless::StateMachine" and isinstance(props.get("DefinitionUri"), str):
            if deploy_bucket is not None:
                props["Definition"] = json.loads((base / props.pop("DefinitionUri")).read_text())
        elif kind == "AWS::S3::Bucket":
            packaged.buckets[logical_id] = props
    return packaged
