"""The layering rules of STYLE.md: the domain is pure, shipped code never imports test tools,
and only the adapters create AWS clients."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "layers" / "core" / "slipway"
SHIPPED = sorted([*CORE.rglob("*.py"), *(ROOT / "functions").rglob("*.py")])
DOMAIN = sorted(
    [*(CORE / "domain").rglob("*.py"), *(CORE / "spec").rglob("*.py"), CORE / "errors.py", CORE / "contracts.py"]
)


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_code_never_imports_moto_or_test_tools(path: Path) -> None:
    assert _imports(path) & {"moto", "pytest", "slipway_local"} == set()


@pytest.mark.parametrize("path", DOMAIN, ids=lambda p: str(p.relative_to(ROOT)))
def test_domain_is_pure(path: Path) -> None:
    assert _imports(path) & {"boto3", "botocore", "moto"} == set()
    assert "os.environ" not in path.read_text()


def test_only_the_client_factory_creates_boto3_clients() -> None:
    creators = [p for p in SHIPPED if re.search(r"boto3\.(client|resource|session|Session)\b", p.read_text())]
    assert [p.relative_to(CORE).as_posix() for p in creators] == ["adapters/clients.py"]


def test_settings_are_read_only_by_the_settings_module() -> None:
    readers = [p.relative_to(CORE).as_posix() for p in SHIPPED if "os.environ" in p.read_text()]
    assert readers == ["settings.py"]
