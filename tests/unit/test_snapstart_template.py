"""The infer function's SnapStart, as the template declares it and SAM makes it: a published version under the alias
`live` that the HTTP API's integrations and invoke permissions name, SnapStart on published versions unless the
stack's InferSnapStart parameter says None, and the function built with its bytecode."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from slipway_local.packaging import REPO_ROOT, load_sam_template, package

TEMPLATE = load_sam_template()
INFER = TEMPLATE["Resources"]["InferFunction"]


@pytest.fixture(scope="module")
def transformed() -> dict[str, Any]:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    parameters = {"EnvName": "dev", "ScienceImageDigest": "sha256:" + "0" * 64}
    packaged = package(parameters, account_id="111111111111", region="us-east-1", deploy_bucket="deploy")
    return packaged.cloudformation["Resources"]  # type: ignore[no-any-return]


def test_snapstart_is_on_published_versions_and_a_parameter_turns_it_off() -> None:
    parameter = TEMPLATE["Parameters"]["InferSnapStart"]
    assert parameter["Default"] == "PublishedVersions" and parameter["AllowedValues"] == ["PublishedVersions", "None"]
    assert "cache charge" in parameter["Description"] and "restore charge" in parameter["Description"]
    props = INFER["Properties"]
    assert props["SnapStart"] == {"ApplyOn": {"Ref": "InferSnapStart"}}
    assert props["AutoPublishAlias"] == "live" and props["AutoPublishAliasAllProperties"] is True


def test_the_http_api_and_its_permissions_name_the_alias(transformed: dict[str, Any]) -> None:
    alias = next(k for k, r in transformed.items() if r["Type"] == "AWS::Lambda::Alias")
    assert transformed[alias]["Properties"]["Name"] == "live"
    body = transformed["HttpApi"]["Properties"]["Body"]
    infer_routes = [
        operation["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
        for path in body["paths"].values()
        for operation in path.values()
        if "InferFunction" in json.dumps(operation)
    ]
    assert len(infer_routes) == len(INFER["Properties"]["Events"])
    assert all(f"${{{alias}}}" in uri for uri in infer_routes)
    permissions = [r for r in transformed.values() if r["Type"] == "AWS::Lambda::Permission"]
    infer_permissions = [p for p in permissions if "InferFunction" in json.dumps(p["Properties"]["FunctionName"])]
    assert infer_permissions and all(p["Properties"]["FunctionName"] == {"Ref": alias} for p in infer_permissions)
    function = transformed["InferFunction"]["Properties"]
    assert function["SnapStart"] == {"ApplyOn": {"Ref": "InferSnapStart"}}


def test_the_function_is_built_with_its_bytecode() -> None:
    assert INFER["Metadata"]["BuildMethod"] == "makefile"
    makefile = (REPO_ROOT / "functions" / "infer" / "Makefile").read_text()
    recipe = makefile.split("\nbuild-InferFunction:\n", 1)[1]
    assert "python3.13" in makefile and "app.py" in recipe
    assert "compileall" in recipe and "--invalidation-mode unchecked-hash" in recipe


def test_the_snapstart_cost_and_switch_are_documented() -> None:
    text = (REPO_ROOT / "docs" / "deploying.md").read_text()
    assert "InferSnapStart=None" in text and "restore charge" in text
