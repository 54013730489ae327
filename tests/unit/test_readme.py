"""The README's map of the core library names modules that exist, and every part of the core is on it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "layers" / "core" / "slipway"


def _core_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## The core library")
    return text[start : text.index("\n## ", start + 1)]


def test_every_module_the_readme_names_exists() -> None:
    # GIVEN the paths the README's core-library section names (`stores/specs.py`, `steps/`, …)
    named = set(re.findall(r"`([a-z_]+(?:/[a-z_]+)*(?:\.py|/))`", _core_section()))
    assert named  # the section still names modules
    # THEN each is a module or package of the core (or, for the tests it points at, of the repository)
    missing = sorted(p for p in named if not (CORE / p).exists() and not (ROOT / p).exists())
    assert missing == []


def test_every_package_of_the_core_is_on_the_map() -> None:
    section = _core_section()
    packages = sorted(p.name for p in CORE.iterdir() if (p / "__init__.py").exists())
    assert [p for p in packages if f"`{p}/" not in section] == []
