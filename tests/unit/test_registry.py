"""The model registry over the metadata-table port (here the fake, which the contract suite holds to
DynamoDB's conditional writes and transactions): gapless version numbers, one version per run even
under concurrent retries, aliases moved with an audit log, references resolved as the CLI takes them."""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor

import pytest

from slipway import layout
from slipway.errors import ConflictError, NotFound
from slipway.stores.registry import MAX_ALIAS_ATTEMPTS, ModelRegistry
from tests.fakes import ManualClock, fake_deps


@pytest.fixture
def registry() -> ModelRegistry:
    return ModelRegistry.of(fake_deps())


def test_each_run_gets_the_next_number_exactly_once(registry: ModelRegistry) -> None:
    first = registry.register("reg-a", "run-1", {"algorithm": "logistic_regression"})
    again = registry.register("reg-a", "run-1", {"algorithm": "logistic_regression"})
    second = registry.register("reg-a", "run-2", {"algorithm": "random_forest"})

    assert [r[:2] for r in (first, again, second)] == [(1, True), (1, False), (2, True)]
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
    for run, result in zip(runs, results, strict=True):
        by_run.setdefault(run, set()).add(result.version)
    assert all(len(v) == 1 for v in by_run.values())
    assert sorted(v for versions in by_run.values() for v in versions) == list(range(1, 9))
    assert sum(r.created for r in results) == 8
    assert registry.table.get(*layout.version_counter_key("reg-d"))["value"] == 8  # type: ignore[index]


def test_alias_log_records_who_moved_it_and_when(registry: ModelRegistry) -> None:
    registry.register("reg-e", "run-1", {})
    registry.set_alias("reg-e", "production", 1, actor="platform:alice", reason="approved CHG-1")
    (entry,) = registry.alias_log("reg-e")
    assert (entry["actor"], entry["reason"], entry["alias"]) == ("platform:alice", "approved CHG-1", "production")
    assert entry["at"].startswith("2026-11-25T09:00")  # the injected clock, not the wall clock


def test_one_version_per_dataset_and_spec_version_whoever_races(registry: ModelRegistry) -> None:
    # GIVEN six runs of the same dataset version under the same spec version, and one under another spec
    same = {"dataset_version": "d" * 64, "spec_version": "s" * 64}
    runs = [(f"run-{n}", same) for n in range(6)] + [("run-other-spec", {**same, "spec_version": "t" * 64})]

    # WHEN they all register at once
    with ThreadPoolExecutor(7) as pool:
        results = list(pool.map(lambda r: registry.register("reg-f", r[0], {}, **r[1]), runs))

    # THEN two versions exist: one for the shared (dataset, spec) and one for the other spec
    assert [v["version"] for v in registry.versions("reg-f")] == [1, 2]
    shared = results[:6]
    assert sum(r.created for r in shared) == 1
    assert len({r.version for r in shared}) == 1
    assert sum(r.already_registered for r in shared) == 5
    assert registry.trained_from("reg-f", same["dataset_version"], same["spec_version"]) == shared[0].version


def test_concurrent_alias_advances_lose_no_move_and_never_go_back(registry: ModelRegistry) -> None:
    # GIVEN twelve versions registered
    for n in range(12):
        registry.register("reg-g", f"run-{n}", {})

    # WHEN each run advances the candidate alias to its version, all at once and in shuffled order
    order = [7, 2, 11, 0, 5, 9, 1, 4, 10, 3, 8, 6]
    with ThreadPoolExecutor(6) as pool:
        moved = list(
            pool.map(
                lambda i: registry.advance_alias("reg-g", "candidate", i + 1, actor=f"run:run-{i}", reason="r"), order
            )
        )

    # THEN the alias ends on the newest version, and the log is one unbroken chain of forward moves:
    # every entry replaced exactly the version the previous entry set
    assert registry.alias("reg-g", "candidate") == 12
    log = registry.alias_log("reg-g")
    assert len(log) == sum(moved) >= 1
    assert [e.get("previous_version") for e in log] == [None, *[e["version"] for e in log[:-1]]]
    assert all(a["version"] < b["version"] for a, b in itertools.pairwise(log))


def test_set_alias_moves_to_any_version_with_each_move_logged(registry: ModelRegistry) -> None:
    # promotion and rollback move aliases backwards too
    for n in range(3):
        registry.register("reg-h", f"run-{n}", {})
    registry.set_alias("reg-h", "production", 3, actor="a", reason="promote")
    registry.set_alias("reg-h", "production", 1, actor="a", reason="rollback")
    assert registry.alias("reg-h", "production") == 1
    assert [(e.get("previous_version"), e["version"]) for e in registry.alias_log("reg-h")] == [(None, 3), (3, 1)]


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


def test_an_alias_is_never_cleared_without_its_log_entry() -> None:
    # GIVEN a candidate alias, and every audit-log key the next clearing could write already taken
    deps = fake_deps()
    registry = ModelRegistry.of(deps)
    registry.register("reg-z", "run-1", {})
    registry.set_alias("reg-z", "candidate", 1, actor="test", reason="first")
    clock = deps.clock
    assert isinstance(clock, ManualClock)
    for k in range(1, MAX_ALIAS_ATTEMPTS + 2):
        at = (clock.current + k * clock.step).isoformat()
        deps.table.put(layout.item(layout.alias_log_key("reg-z", at, "candidate"), taken=True))
    # WHEN it is cleared
    with pytest.raises(ConflictError, match="could not clear reg-z@candidate"):
        registry.clear_alias("reg-z", "candidate", actor="test", reason="retire")
    # THEN it still points where it did: no removal happened without its log entry
    assert registry.aliases("reg-z") == {"candidate": 1}
    assert [e["version"] for e in registry.alias_log("reg-z") if not e.get("taken")] == [1]
