"""The model registry over the metadata-table port (here the fake, which the contract suite holds to
DynamoDB's conditional writes and transactions): gapless version numbers, one version per run even
under concurrent retries, aliases moved with an audit log, references resolved as the CLI takes them."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from slipway import layout
from slipway.errors import NotFound
from slipway.registry import ModelRegistry
from tests.fakes import fake_deps


@pytest.fixture
def registry() -> ModelRegistry:
    return ModelRegistry.of(fake_deps())


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


def test_concurrent_runs_and_retries_get_gapless_numbers(registry: ModelRegistry) -> None:
    # GIVEN eight runs, each delivered twice at the same time (at-least-once events, retried steps)
    runs = [f"run-{n}" for n in range(8)] * 2

    # WHEN they all register at once
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda run: registry.register("reg-d", run, {}), runs))

    # THEN each run has exactly one version, the numbers are 1..8 without gaps, and the counter says 8
    by_run: dict[str, set[int]] = {}
    for run, (version, _) in zip(runs, results, strict=True):
        by_run.setdefault(run, set()).add(version)
    assert all(len(v) == 1 for v in by_run.values())
    assert sorted(v for versions in by_run.values() for v in versions) == list(range(1, 9))
    assert sum(created for _, created in results) == 8
    assert registry.table.get(*layout.version_counter_key("reg-d"))["value"] == 8  # type: ignore[index]


def test_alias_log_records_who_moved_it_and_when(registry: ModelRegistry) -> None:
    registry.register("reg-e", "run-1", {})
    registry.set_alias("reg-e", "production", 1, actor="platform:alice", reason="approved CHG-1")
    (entry,) = registry.alias_log("reg-e")
    assert (entry["actor"], entry["reason"], entry["alias"]) == ("platform:alice", "approved CHG-1", "production")
    assert entry["at"].startswith("2026-11-25T09:00")  # the injected clock, not the wall clock


def test_rollback_puts_production_back_where_it_was_before_its_last_move(registry: ModelRegistry) -> None:
    for run in ("run-1", "run-2", "run-3"):
        registry.register("reg-r", run, {})
    with pytest.raises(NotFound, match="no version in production"):
        registry.rollback_production("reg-r", actor="ops", reason="bad")
    registry.set_alias("reg-r", "production", 1, actor="promotion", reason="first", execution="arn:e1")
    with pytest.raises(NotFound, match="no earlier production version"):
        registry.rollback_production("reg-r", actor="ops", reason="bad")
    registry.set_alias("reg-r", "production", 2, actor="promotion", reason="canary healthy", execution="arn:e2")
    registry.set_alias("reg-r", "challenger", 3, actor="promotion", reason="canary", weight=0.1)

    # WHEN an operator rolls production back THEN it points at 1 again, the challenger untouched
    assert registry.rollback_production("reg-r", actor="arn:ops", reason="complaints") == (2, 1)
    assert registry.aliases("reg-r") == {"production": 1, "challenger": 3}
    last = [e for e in registry.alias_log("reg-r") if e["alias"] == "production"][-1]
    assert (last["previous_version"], last["version"], last["actor"], last["reason"]) == (2, 1, "arn:ops", "complaints")
    assert "execution" not in last  # an operator's move, not a state machine's
    assert [e.get("execution") for e in registry.alias_log("reg-r") if e["alias"] == "production"][:2] == [
        "arn:e1",
        "arn:e2",
    ]
