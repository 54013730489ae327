"""The layering rules of ../shared/STYLE.md: the domain is pure, imports run only downward (basics < domain <
contracts < stores < serving < steps and operations < composition), shipped code never imports test tools, and only the
adapters create AWS clients."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "layers" / "core" / "slipway"
SHIPPED = sorted([*CORE.rglob("*.py"), *(ROOT / "functions").rglob("*.py")])
DOMAIN = sorted(
    [CORE / "errors.py", *(p for part in ("domain", "spec", "contracts") for p in (CORE / part).rglob("*.py"))]
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
    creating = re.compile(r"(boto3|botocore)\.(client|resource|session|Session)\b")
    creators = [p for p in SHIPPED if creating.search(p.read_text())]
    assert [p.relative_to(CORE).as_posix() for p in creators] == ["adapters/clients.py"]


def test_settings_are_read_only_by_the_settings_module() -> None:
    readers = [p.relative_to(CORE).as_posix() for p in SHIPPED if "os.environ" in p.read_text()]
    assert readers == ["settings.py"]


CLI = ROOT / "cli" / "slipway_cli"
LOCAL_ONLY = {"moto", "samtranslator", "slipway_local"}
# CLI modules that run only with the local extra (the demo drives a local cloud): reached only lazily, by the
# local subcommands, so they may import the local cloud at their top.
LOCAL_ONLY_CLI_MODULES = {"slipway_cli.demo"}
# The only places allowed to reach the local cloud: the subcommands that need it, importing lazily.
LAZY_LOCAL_IMPORTS = {
    ("cli/slipway_cli/main.py", "cmd_local_up"),
    ("cli/slipway_cli/main.py", "cmd_local_tick"),
    ("cli/slipway_cli/main.py", "cmd_demo"),
}


def _local_imports(path: Path) -> set[tuple[str, str | None]]:
    """(module, enclosing function or None at module level) for each import of a local-only module."""
    found: set[tuple[str, str | None]] = set()

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(child, child.name)
                continue
            if isinstance(child, ast.Import):
                modules = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                modules = [child.module]
            else:
                modules = []
            found.update((m, function) for m in modules if m.split(".")[0] in LOCAL_ONLY or m in LOCAL_ONLY_CLI_MODULES)
            visit(child, function)

    visit(ast.parse(path.read_text()), None)
    return found


@pytest.mark.parametrize(
    "path",
    sorted(p for p in [*CLI.rglob("*.py"), *CORE.rglob("*.py")] if p != CLI / "demo.py"),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_cli_and_core_install_without_the_local_extra(path: Path) -> None:
    # GIVEN a module of the CLI or the core, which `pip install slipway` gets without moto
    rel = path.relative_to(ROOT).as_posix()
    # WHEN its imports of the local cloud and the emulator are listed, with where they happen
    imports = _local_imports(path)
    # THEN none runs at import time, and the lazy ones are only the local subcommands' own
    assert {(m, f) for m, f in imports if f is None} == set()
    assert {(rel, f) for _, f in imports} <= LAZY_LOCAL_IMPORTS
    assert "import_module(" not in path.read_text() and "__import__(" not in path.read_text()


def test_the_local_subcommands_are_the_lazy_importers() -> None:
    found = {
        ("cli/slipway_cli/main.py", f)
        for m, f in _local_imports(CLI / "main.py")
        if m.startswith("slipway_local") or m in LOCAL_ONLY_CLI_MODULES
    }
    assert found == LAZY_LOCAL_IMPORTS


def test_the_cli_to_local_cloud_arrow_is_the_only_one() -> None:
    # GIVEN every module of the local cloud
    local = ROOT / "infra" / "local" / "slipway_local"
    # THEN none imports the CLI: the CLI drives the local cloud (local up, demo), never the other way
    importing = sorted(p.name for p in local.rglob("*.py") if any(m.startswith("slipway_cli") for m in _modules(p)))
    assert importing == []


def _modules(path: Path) -> set[str]:
    """Full dotted names of what a module imports (``from a.b import c`` gives ``a.b``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


STEPS = sorted(p for p in (CORE / "steps").rglob("*.py") if p.name != "__init__.py")


@pytest.mark.parametrize("path", STEPS, ids=lambda p: p.relative_to(CORE / "steps").as_posix())
def test_steps_depend_on_ports_not_on_adapters_or_other_steps(path: Path) -> None:
    imported = _modules(path)
    assert {m for m in imported if m.startswith("slipway.steps")} == set()
    assert {
        m for m in imported if m.startswith(("slipway.adapters", "slipway.composition", "boto3", "botocore"))
    } == set()


def test_only_the_composition_root_wires_adapters() -> None:
    wiring = sorted(
        p.relative_to(CORE).as_posix()
        for p in CORE.rglob("*.py")
        if "adapters" not in p.relative_to(CORE).parts and any(m.startswith("slipway.adapters") for m in _modules(p))
    )
    assert wiring == ["composition.py"]


# The core's layers, lowest first; a module imports only from its own layer or below. The adapters stand apart:
# only the composition root imports them (above), and they import only the basics.
BASICS = ("errors", "objects", "schema", "layout", "manifest", "settings", "ports")
LAYERS: tuple[tuple[str, ...], ...] = (
    BASICS,
    ("domain", "spec"),
    ("contracts",),
    ("stores",),
    ("serving",),
    ("steps", "operations"),
    ("composition", "handler"),
)
ADAPTERS_MAY_IMPORT = BASICS


def _layer(part: str) -> int | None:
    return next((i for i, names in enumerate(LAYERS) if part in names), None)


def _core_part(module: str) -> str | None:
    """``slipway.stores.registry`` -> ``stores``; ``slipway`` itself (its version) and non-core modules -> None."""
    parts = module.split(".")
    return parts[1] if parts[0] == "slipway" and len(parts) > 1 else None


def _imported_parts(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "slipway" and node.level == 0:
            found.update(a.name for a in node.names if a.name != "__version__")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(_core_part(node.module) or "")
        elif isinstance(node, ast.Import):
            found.update(_core_part(a.name) or "" for a in node.names)
    return found - {""}


@pytest.mark.parametrize("path", sorted(CORE.rglob("*.py")), ids=lambda p: str(p.relative_to(CORE)))
def test_imports_run_downward_through_the_core_layers(path: Path) -> None:
    # GIVEN a module of the core and the layer it belongs to
    own = path.relative_to(CORE).parts[0].removesuffix(".py")
    if own == "__init__":
        return  # the package's own version string
    imported = _imported_parts(path) - {own}
    # WHEN its imports of other parts of the core are listed
    if own == "adapters":
        # THEN adapters reach only the basics (the ports they implement and the errors they raise)
        assert imported <= set(ADAPTERS_MAY_IMPORT)
        return
    level = _layer(own)
    assert level is not None, f"{own}: a part of the core that no layer names"
    # THEN none sits in a higher layer than the module's own
    upward = {part for part in imported if part != "adapters" and (_layer(part) is None or _layer(part) > level)}
    assert upward == set()


def test_the_core_root_holds_only_the_basics() -> None:
    root = sorted(p.stem for p in CORE.glob("*.py"))
    assert len(root) <= 10
    assert set(root) <= {"__init__", *BASICS, "composition", "handler"}
