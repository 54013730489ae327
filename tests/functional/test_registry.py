"""The model registry on DynamoDB (moto): gapless version numbers, one version per run, aliases
moved with an audit log, and references resolved the way the CLI takes them."""

from __future__ import annotations

import pytest

from slipway.errors import NotFound
from slipway.registry import ModelRegistry
from slipway_cli.target import Target


@pytest.fixture
def registry(dev: Target) -> ModelRegistry:
    return ModelRegistry.of(dev.deps)


def test_each_run_gets_the_next_number_exactly_once(registry: ModelRegistry) -> None:
    first = registry.register("reg-a", "run-1", {"algorithm": "logistic_regression"})
    again = registry.register("reg-a", "run-1", {"algorithm": "logistic_regression"})
    second = registry.register("reg-a", "run-2", {"algorithm": "random_forest"})

    assert (first, again, second) == ((1, True), (1, False), (2, True))
    assert [v["version"] for v in registry.versions("reg-a")] == [1, 2]
    assert registry.resolve("reg-a")["run_id"] == "run-2"
    assert registry.resolve("reg-a@1")["algorithm"] == "logistic_regression"


def test_alias_moves_are_logged_and_resolved(registry: ModelRegistry) -> None:
    registry.register("reg-b", "run-1", {})
    registry.register("reg-b", "run-2", {})
    registry.set_alias("reg-b", "candidate", 1, actor="test", reason="first")
    registry.set_alias("reg-b", "candidate", 2, actor="test", reason="second")

    assert registry.aliases("reg-b") == {"candidate": 2}
    assert registry.resolve("reg-b@candidate")["version"] == 2
    log = registry.alias_log("reg-b")
    assert [(e.get("previous_version"), e["version"], e["reason"]) for e in log] == [
        (None, 1, "first"),
        (1, 2, "second"),
    ]
    assert registry.champion("reg-b")["version"] == 2  # no production alias yet: the candidate


def test_unknown_versions_and_aliases_are_typed_not_found(registry: ModelRegistry) -> None:
    registry.register("reg-c", "run-1", {})
    with pytest.raises(NotFound, match="no version 7"):
        registry.resolve("reg-c@7")
    with pytest.raises(NotFound, match="no alias 'production'"):
        registry.resolve("reg-c@production")
    with pytest.raises(NotFound, match="no version 9"):
        registry.set_alias("reg-c", "candidate", 9, actor="test", reason="typo")
    with pytest.raises(ValueError, match="unknown alias"):
        registry.set_alias("reg-c", "latest", 1, actor="test", reason="not an alias")
