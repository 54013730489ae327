"""Static checks of what `sam deploy` ships: ASL placeholders and transitions, error names the
ASL matches, handler files, pins of the shipped requirements, and cfn-lint on the template."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from slipway.errors import ALL_ERRORS
from slipway_local.packaging import load_sam_template

ROOT = Path(__file__).resolve().parents[2]
MACHINES = sorted((ROOT / "statemachines").glob("*.asl.json"))
TEMPLATE = load_sam_template(ROOT / "infra" / "template.yaml")
AWS_ERROR_PREFIXES = ("States.", "Lambda.")


def _state_machine_resources() -> dict[str, dict[str, Any]]:
    return {
        Path(r["Properties"]["DefinitionUri"]).name: r["Properties"]
        for r in TEMPLATE["Resources"].values()
        if r["Type"] == "AWS::Serverless::StateMachine"
    }


def _all_states(states: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """States of a machine including those nested in Map/Parallel branches, by name."""
    found: dict[str, dict[str, Any]] = {}
    for name, state in states.items():
        found[name] = state
        for branch in state.get("Branches", []):
            found.update(_all_states(branch["States"]))
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            found.update(_all_states(processor["States"]))
    return found


def _targets(state: dict[str, Any]) -> list[str]:
    targets = [state["Next"]] if "Next" in state else []
    targets += [c["Next"] for c in state.get("Choices", [])] + [c["Next"] for c in state.get("Catch", [])]
    if "Default" in state:
        targets.append(state["Default"])
    return targets


def test_every_state_machine_file_is_deployed_by_the_template() -> None:
    assert {m.name for m in MACHINES} == set(_state_machine_resources())


@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.name)
def test_every_placeholder_is_supplied_by_the_template(path: Path) -> None:
    placeholders = set(re.findall(r"\$\{(\w+)\}", path.read_text()))
    supplied = set(_state_machine_resources()[path.name].get("DefinitionSubstitutions", {}))
    assert placeholders - supplied == set(), "placeholders the template does not supply"
    assert supplied - placeholders == set(), "substitutions no state uses"


@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.name)
def test_every_next_exists_and_every_state_is_reachable(path: Path) -> None:
    definition = json.loads(path.read_text())

    def check(scope: dict[str, Any]) -> None:
        states = scope["States"]
        assert scope["StartAt"] in states
        reachable, todo = set(), [scope["StartAt"]]
        while todo:
            name = todo.pop()
            if name in reachable:
                continue
            reachable.add(name)
            for target in _targets(states[name]):
                assert target in states, f"{name} → {target} does not exist"
                todo.append(target)
        assert reachable == set(states), f"unreachable: {set(states) - reachable}"
        for state in states.values():
            for branch in state.get("Branches", []):
                check(branch)
            if state.get("ItemProcessor") or state.get("Iterator"):
                check(state.get("ItemProcessor") or state.get("Iterator"))

    check(definition)


@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.name)
def test_every_matched_error_name_is_a_slipway_error_class(path: Path) -> None:
    for name, state in _all_states(json.loads(path.read_text())["States"]).items():
        for rule in state.get("Retry", []) + state.get("Catch", []):
            for error in rule["ErrorEquals"]:
                assert error.startswith(AWS_ERROR_PREFIXES) or error in ALL_ERRORS, f"{name}: {error}"


def test_every_function_handler_exists() -> None:
    template_dir = ROOT / "infra"
    for logical_id, resource in TEMPLATE["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        if props.get("PackageType") == "Image":
            root = template_dir / resource["Metadata"]["DockerContext"]
            handler = props["ImageConfig"]["Command"][0]
            assert (template_dir / resource["Metadata"]["DockerContext"] / resource["Metadata"]["Dockerfile"]).exists()
        else:
            root, handler = template_dir / props["CodeUri"], props["Handler"]
        module, _, function = handler.rpartition(".")
        source = (root / module.replace(".", "/")).with_suffix(".py")
        assert source.exists(), f"{logical_id}: {source}"
        assert f"def {function}(" in source.read_text(), f"{logical_id}: no {function} in {source}"


@pytest.mark.parametrize("requirements", ["layers/core/requirements.txt", "layers/science/requirements.txt"])
def test_shipped_requirements_match_the_project_pins(requirements: str) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = {d.split("==")[0].split("[")[0].lower(): d.split("==")[1] for d in project}
    for line in (ROOT / requirements).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            assert pins.get(name.lower()) == version, f"{requirements}: {line} vs pyproject"


def test_cfn_lint_passes_on_the_template() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(ROOT / "infra" / "template.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_function_may_delete_data_or_holds_broad_policies() -> None:
    # Raw objects are never deleted by the pipeline; artifacts and metadata are only added or updated.
    forbidden = (
        "S3CrudPolicy",
        "S3FullAccessPolicy",
        "DynamoDBCrudPolicy",
        "AmazonS3FullAccess",
        "AdministratorAccess",
    )
    for logical_id, resource in TEMPLATE["Resources"].items():
        if resource["Type"] not in ("AWS::Serverless::Function", "AWS::Serverless::StateMachine"):
            continue
        text = json.dumps(resource["Properties"].get("Policies", []))
        assert not any(name in text for name in forbidden), logical_id
        assert '"s3:*"' not in text and '"dynamodb:*"' not in text and "Delete" not in text, logical_id


@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.name)
def test_statelint_agrees_the_definition_is_valid(path: Path) -> None:
    # A peer validator (AWS's statelint rules, from PyPI) as an independent check of the ASL.
    result = subprocess.run(
        [str(Path(sys.executable).parent / "statelint"), str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_every_function_runs_on_a_supported_python_runtime() -> None:
    """python3.11 can no longer be created on Lambda (deprecated 2026-06-30); zip functions, layers and
    the science image all target python3.13."""
    functions = {k: r for k, r in TEMPLATE["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    runtimes = {TEMPLATE["Globals"]["Function"].get("Runtime")} | {
        r["Properties"].get("Runtime") for r in functions.values()
    }
    assert runtimes - {None} == {"python3.13"}
    for key, resource in TEMPLATE["Resources"].items():
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            assert resource["Properties"]["CompatibleRuntimes"] == ["python3.13"], key
    assert "FROM public.ecr.aws/lambda/python:3.13" in (ROOT / "layers/science/Dockerfile").read_text()
    assert TEMPLATE["Globals"]["Function"]["Architectures"] == ["x86_64"]
