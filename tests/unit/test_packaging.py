"""What `pip install .` ships: every package and subpackage of the core, the CLI and the local cloud
(setuptools installs only the packages pyproject lists; an editable install would hide a gap)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_lists_every_package_under_each_package_dir() -> None:
    # GIVEN the packages and their folders as pyproject declares them
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])

    # WHEN every folder with an __init__.py under each top-level package's folder is named as a package
    found = {
        ".".join([top, *init.parent.relative_to(ROOT / folder).parts])
        for top, folder in setuptools["package-dir"].items()
        for init in (ROOT / folder).rglob("__init__.py")
        if "__pycache__" not in init.parts
    }

    # THEN the wheel ships exactly those
    assert found == listed
