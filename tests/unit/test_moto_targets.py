"""The local cloud's guard against a moto upgrade: every moto internal it replaces is named in
slipway_local.moto_targets with the signature its patch expects, checked in a fresh process (before any patch
is installed), so a moto that renames or reshapes one fails here, naming the patch."""

from __future__ import annotations

import ast
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from slipway_local.moto_targets import TARGETS, MotoTargetChanged, Target, check

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / "infra" / "local" / "slipway_local"

_CHECK_ALL = """
import json
from slipway_local.moto_targets import TARGETS, MotoTargetChanged, check
found = {}
for target in TARGETS:
    try:
        check(target)
        found[target.path] = None
    except MotoTargetChanged as e:
        found[target.path] = str(e)
print(json.dumps(found))
"""


@pytest.fixture(scope="module")
def checked() -> dict[str, str | None]:
    """Each target's check in a fresh interpreter: no slipway_local patch installed there."""
    done = subprocess.run([sys.executable, "-c", _CHECK_ALL], capture_output=True, text=True, check=True, timeout=120)
    return dict(json.loads(done.stdout))


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.path.rpartition(":")[2])
def test_every_patched_moto_target_is_there_with_the_expected_signature(
    checked: dict[str, str | None], target: Target
) -> None:
    assert checked[target.path] is None


def test_a_renamed_target_fails_naming_the_patch() -> None:
    # GIVEN the Lambda patch's target, as a moto that renamed it would present it
    lambda_target = next(t for t in TARGETS if t.path.endswith("LambdaFunction._invoke_lambda"))
    renamed = dataclasses.replace(lambda_target, path=lambda_target.path + "_v2")
    # WHEN it is checked THEN the failure names the patch and what is gone
    with pytest.raises(
        MotoTargetChanged, match=r"slipway_local\.patches patches .*_invoke_lambda_v2.*'_invoke_lambda_v2' is gone"
    ):
        check(renamed)


def test_a_reshaped_target_fails_naming_the_patch_and_both_signatures() -> None:
    rule = next(t for t in TARGETS if t.path.endswith("Rule.send_to_targets"))
    reshaped = dataclasses.replace(rule, parameters=("self", "event"))
    with pytest.raises(MotoTargetChanged, match=r"slipway_local\.patches patches .*parameters moto changed"):
        check(reshaped)


def _moto_names(tree: ast.Module) -> dict[str, str]:
    """Local name -> the moto module or object it was imported as."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("moto"):
            names.update({a.asname or a.name: f"{node.module}:{a.name}" for a in node.names})
        elif isinstance(node, ast.Import):
            names.update({a.asname: f"{a.name}:" for a in node.names if a.name.startswith("moto") and a.asname})
    return names


def _patched_here() -> set[str]:
    """Every ``<moto object>.<attribute> = …`` in the local cloud, as ``module:Object.attribute`` (slipway_local's
    own marker attributes, ``_slipway…``, left out)."""
    found: set[str] = set()
    for path in LOCAL.glob("*.py"):
        tree = ast.parse(path.read_text())
        names = _moto_names(tree)
        for node in ast.walk(tree):
            targets = node.targets if isinstance(node, ast.Assign) else []
            for target in targets:
                if not isinstance(target, ast.Attribute) or target.attr.startswith("_slipway"):
                    continue
                base = ast.unparse(target.value)
                root, _, rest = base.partition(".")
                if root in names:
                    module, _, obj = names[root].partition(":")
                    dotted = ".".join(p for p in (obj, rest, target.attr) if p)
                    found.add(f"{module}:{dotted}")
    return found


def test_the_list_names_every_moto_attribute_the_local_cloud_replaces() -> None:
    # GIVEN the assignments to moto's objects in the local cloud's source
    patched = _patched_here()
    # THEN each is a listed target (compared as dotted names), and each listed target is patched in the module it
    # names
    assert {p.replace(":", ".") for p in patched} <= {t.path.replace(":", ".") for t in TARGETS}
    for target in TARGETS:
        attribute = target.path.rpartition(".")[2].rpartition(":")[2]
        assert attribute in (LOCAL / f"{target.patch}.py").read_text(), target


def test_docs_list_every_target_with_its_gap() -> None:
    text = (ROOT / "docs" / "local-cloud.md").read_text()
    for target in TARGETS:
        assert f"`{target.path}`" in text and target.gap in text, target.path
