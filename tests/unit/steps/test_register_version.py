"""register_version: each run's challenger becomes the model's next version (gapless numbers), with
artifacts whose SHA-256 matches the stored bytes, a model card, lineage and the ``candidate`` alias moved
and logged; a retried register returns the same version and writes nothing new."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from slipway import layout
from slipway.contracts.training import RegisteredModel
from slipway.domain.digest import sha256_hex
from slipway.domain.lineage import dataset_node, feature_set_node, model_node, raw_node, run_node, spec_node
from slipway.errors import TransientError
from slipway.objects import S3Object
from slipway.ports import ConditionalDelete, ConditionalUpdate, Counter, Deps, MetadataTable
from slipway.steps.training.register_version import register_version
from slipway.steps.training.validate_dataset import validate_dataset
from slipway.stores.lineage import models_fed_by, upstream
from slipway.stores.registry import ModelRegistry
from slipway.stores.runs import get_run
from tests.fakes import ManualClock, fork
from tests.unit.steps.support import (
    Pipeline,
    Run,
    churn_csv,
    item_of,
    register_request,
    run_pipeline,
    stored_versions,
    table_keys,
    upload,
)

FIRST_AT = datetime(2027, 1, 4, 10, 0, tzinfo=UTC)
SECOND_AT = datetime(2027, 1, 5, 10, 0, tzinfo=UTC)


@dataclasses.dataclass(frozen=True)
class Registered:
    deps: Deps
    first: Run
    second: Run
    windows: dict[int, tuple[datetime, datetime]]  # version -> (clock before register, clock after)


def _register_at(deps: Deps, run: Run, at: datetime) -> tuple[datetime, datetime]:
    """Register ``run`` with the clock set to ``at``; returns the clock's window around the step."""
    clock = deps.clock
    assert isinstance(clock, ManualClock)
    clock.current = at
    run.registered = register_version(deps, register_request(run.run_id, run.dataset, run.features, run.evaluated))
    return at, clock.current


@pytest.fixture(scope="module")
def registered(evaluated: Pipeline) -> Registered:
    """run-1 registered, then a second run (another upload of fresh data) trained, evaluated and registered."""
    deps = fork(evaluated.deps)
    first = dataclasses.replace(evaluated.run)
    windows = {1: _register_at(deps, first, FIRST_AT)}
    second = run_pipeline(deps, "run-2", "churn/december.csv", churn_csv(seed=8))
    windows[2] = _register_at(deps, second, SECOND_AT)
    return Registered(deps, first, second, windows)


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def test_two_runs_register_versions_1_and_2_without_gaps(registered: Registered) -> None:
    # GIVEN two runs registered one after the other
    deps = registered.deps
    first, second = registered.first.registered, registered.second.registered
    assert first is not None and second is not None

    # WHEN a user lists the model's versions
    versions = ModelRegistry.of(deps).versions("churn")

    # THEN they are 1 and 2, each new and made by its run, and the counter stands at 2
    assert (first.version, first.new, second.version, second.new) == (1, True, 2, True)
    assert [(v["version"], v["run_id"]) for v in versions] == [(1, "run-1"), (2, "run-2")]
    assert item_of(deps, layout.version_counter_key("churn"))["value"] == 2
    # AND each version records what made it: data, spec, feature set, winning candidate and its metrics
    for run in (registered.first, registered.second):
        assert run.registered is not None
        item = item_of(deps, layout.version_key("churn", run.registered.version))
        fs, best = run.features.feature_set, run.evaluated.best
        assert (item["dataset_version"], item["spec_version"], item["feature_set"]) == (
            run.dataset.dataset_version,
            run.dataset.spec_version,
            fs.id,
        )
        assert (item["algorithm"], item["params"]) == (best.algorithm, best.params)
        assert item["test_metrics"]["roc_auc"] == pytest.approx(run.evaluated.test_metrics["roc_auc"])
        assert (item["raw_uri"], item["raw_version_id"]) == (run.raw.uri, run.raw.version_id)
    # AND the second run was gated against version 1 as its champion
    assert registered.second.evaluated.champion is not None
    assert registered.second.evaluated.champion["version"] == 1


def test_the_candidate_alias_moves_to_each_new_version_and_every_move_is_logged(registered: Registered) -> None:
    # GIVEN versions 1 and 2 registered by run-1 and run-2
    registry = ModelRegistry.of(registered.deps)

    # WHEN a user looks at the aliases and their history
    log = registry.alias_log("churn")

    # THEN candidate points at version 2, and the log shows both moves with who moved it and why
    assert registry.aliases("churn") == {"candidate": 2}
    assert [(e["alias"], e.get("previous_version"), e["version"], e["actor"], e["reason"]) for e in log] == [
        ("candidate", None, 1, "run:run-1", "registered by training"),
        ("candidate", 1, 2, "run:run-2", "registered by training"),
    ]
    # AND each move happened while its run was registering (the fake clock's time)
    for entry in log:
        before, after = registered.windows[entry["version"]]
        assert before < _at(entry["at"]) <= after
        assert registry.table.get(*layout.alias_log_key("churn", entry["at"], "candidate")) is not None


def test_registered_artifacts_match_their_recorded_sha256(registered: Registered) -> None:
    # GIVEN version 1, registered from run-1's challenger
    deps, run = registered.deps, registered.first
    item = item_of(deps, layout.version_key("churn", 1))
    artifacts: dict[str, dict[str, str]] = item["artifacts"]

    # WHEN a user downloads each artifact the version lists
    # THEN every one is stored under the run's model prefix and hashes to its recorded SHA-256
    assert set(artifacts) == {
        layout.MODEL_SKOPS,
        layout.MODEL_ONNX,
        layout.EXPLAINER,
        layout.MODEL_CARD_JSON,
        layout.MODEL_CARD_HTML,
        layout.DRIFT_REFERENCE,
    }
    for name, record in artifacts.items():
        assert record["uri"] == layout.model_artifact(deps.settings.artifacts_bucket, "churn", "run-1", name).uri
        assert sha256_hex(deps.store.get_bytes(S3Object.parse(record["uri"]))) == record["sha256"]
    # AND the drift reference holds the training profile of the model's inputs and its test-split scores
    reference = deps.store.get_json(S3Object.parse(artifacts[layout.DRIFT_REFERENCE]["uri"]))
    assert {i["name"] for i in item["inputs"]} >= set(reference["features"]) >= {"tenure_months", "contract_type"}
    assert reference["scores"]["count"] == reference["test_rows"] > 0
    assert reference["test_metrics"] == item["test_metrics"]
    # AND the registered model is byte for byte the challenger that was evaluated, and its ONNX matched it
    assert artifacts[layout.MODEL_SKOPS]["sha256"] == run.evaluated.best.model_sha256
    assert item["onnx"]["status"] == "ok"
    # AND the model card is a readable HTML page about this version
    assert run.registered is not None and run.registered.model_card_uri == artifacts[layout.MODEL_CARD_HTML]["uri"]
    html = deps.store.get_bytes(S3Object.parse(run.registered.model_card_uri)).decode()
    assert "<title>Model card: churn v1</title>" in html
    assert "No champion: this is the first version." in html


def test_versions_and_runs_carry_the_clock_time_of_registration(registered: Registered) -> None:
    # GIVEN versions registered with the clock at FIRST_AT and SECOND_AT
    deps = registered.deps
    for version, run_id in ((1, "run-1"), (2, "run-2")):
        before, after = registered.windows[version]
        # WHEN a user reads the version and its run
        item = item_of(deps, layout.version_key("churn", version))
        run_item = get_run(deps, run_id)
        # THEN both carry times from that registration, and the run SUCCEEDED with the version
        assert before < _at(item["registered_at"]) <= after
        assert run_item is not None
        assert (run_item["status"], run_item["model_version"]) == ("SUCCEEDED", version)
        assert before < _at(run_item["ended_at"]) <= after


def test_lineage_answers_from_an_upload_to_its_model_and_back(registered: Registered) -> None:
    # GIVEN version 1, registered from run-1's upload
    deps, run = registered.deps, registered.first
    fs = run.features.feature_set

    # WHEN a user asks what the upload fed, and what version 1 came from
    fed = models_fed_by(deps, run.raw.uri)
    came_from = upstream(deps, model_node("churn", 1))

    # THEN the upload fed version 1, and version 1 traces back through run, features and dataset to it
    assert fed == [model_node("churn", 1)]
    assert set(came_from) >= {
        run_node("run-1"),
        spec_node("churn", run.dataset.spec_version),
        feature_set_node("churn", fs.id),
        dataset_node("churn", run.dataset.dataset_version),
        raw_node(run.raw.uri, run.raw.version_id),
    }


def test_the_same_upload_again_knows_which_version_it_already_trained(registered: Registered) -> None:
    # GIVEN run-1's data registered as version 1
    deps = fork(registered.deps)

    # WHEN the same bytes are uploaded again (another name) and validated
    dataset = validate_dataset(deps, upload(deps, "churn/resent.csv", churn_csv()), "run-resent")

    # THEN the dataset version is not new and names version 1 as already trained from it (no retrain)
    assert (dataset.dataset_version, dataset.new) == (registered.first.dataset.dataset_version, False)
    assert dataset.trained_version == 1
    # AND the run (which the state machine ends at NothingToTrain) is closed, pointing at version 1
    run_item = get_run(deps, "run-resent")
    assert run_item is not None
    assert (run_item["status"], run_item["outcome"], run_item["model_version"]) == ("SUCCEEDED", "nothing_to_train", 1)
    assert "ended_at" in run_item


def test_a_retried_register_returns_the_same_version_and_writes_nothing_new(registered: Registered) -> None:
    # GIVEN run-1 registered as version 1 (and run-2 as version 2)
    deps = fork(registered.deps)
    run = registered.first
    items_before, objects_before = table_keys(deps), stored_versions(deps)
    log_before = ModelRegistry.of(deps).alias_log("churn")

    # WHEN Step Functions retries run-1's register step
    again = register_version(deps, register_request(run.run_id, run.dataset, run.features, run.evaluated))

    # THEN it is version 1 again, not new, with the same artifacts
    assert run.registered is not None
    assert (again.version, again.new) == (1, False)
    assert again.artifacts == run.registered.artifacts
    # AND no item, object or object version was added, and the candidate alias was not moved back
    assert table_keys(deps) == items_before
    assert stored_versions(deps) == objects_before
    assert ModelRegistry.of(deps).alias_log("churn") == log_before
    assert ModelRegistry.of(deps).aliases("churn") == {"candidate": 2}


class _ThrottledAliasMove:
    """The fake table, except that the first move of churn's candidate alias is throttled (a retryable error)."""

    def __init__(self, table: MetadataTable) -> None:
        self._table = table
        self.throttled = False

    def transact(
        self,
        puts: Sequence[Mapping[str, Any]],
        counter: Counter | None = None,
        updates: Sequence[ConditionalUpdate] = (),
        deletes: Sequence[ConditionalDelete] = (),
    ) -> bool:
        moves_alias = any((u.pk, u.sk) == layout.alias_key("churn", "candidate") for u in updates)
        if moves_alias and not self.throttled:
            self.throttled = True
            raise TransientError("transact write: throttled", {"code": "ProvisionedThroughputExceededException"})
        return self._table.transact(puts, counter, updates, deletes)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)


def test_a_register_retried_after_a_throttled_alias_move_still_moves_the_alias(evaluated: Pipeline) -> None:
    # GIVEN run-1 ready to register, and the table throttling its first alias move (after the version's
    # transaction committed)
    deps = fork(evaluated.deps)
    run = evaluated.run
    request = register_request(run.run_id, run.dataset, run.features, run.evaluated)
    throttled = _ThrottledAliasMove(deps.table)
    with pytest.raises(TransientError):
        register_version(dataclasses.replace(deps, table=throttled), request)
    assert throttled.throttled

    # WHEN Step Functions retries the step (its Retry matches TransientError)
    again = register_version(deps, request)

    # THEN the run's version is 1, and the candidate alias points at it with the move logged
    assert again.version == 1
    registry = ModelRegistry.of(deps)
    assert registry.aliases("churn") == {"candidate": 1}
    assert [(e["version"], e["actor"]) for e in registry.alias_log("churn")] == [(1, "run:run-1")]


def test_a_late_retry_of_an_older_run_never_moves_the_alias_back(registered: Registered) -> None:
    # GIVEN version 2 is the candidate, and run-1's alias move was logged long ago
    deps = fork(registered.deps)
    first = registered.first
    log_before = ModelRegistry.of(deps).alias_log("churn")

    # WHEN run-1's register step is delivered once more
    again = register_version(deps, register_request(first.run_id, first.dataset, first.features, first.evaluated))

    # THEN it returns version 1 unchanged, and the candidate alias stays on version 2 with no new log entry
    assert (again.version, again.new) == (1, False)
    registry = ModelRegistry.of(deps)
    assert registry.aliases("churn") == {"candidate": 2}
    assert registry.alias_log("churn") == log_before


# ---------------------------------------------------------------- one version per (dataset version, spec version)


@dataclasses.dataclass(frozen=True)
class Twins:
    """Two runs of the same bytes under two keys, both evaluated before either registered (they raced)."""

    deps: Deps
    first: Run
    second: Run


@pytest.fixture
def twins(evaluated: Pipeline) -> Twins:
    deps = fork(evaluated.deps)
    second = run_pipeline(deps, "run-twin", "churn/customers-copy.csv", churn_csv())
    assert second.dataset.dataset_version == evaluated.run.dataset.dataset_version
    return Twins(deps, dataclasses.replace(evaluated.run), second)


def _register(deps: Deps, run: Run) -> RegisteredModel:
    return register_version(deps, register_request(run.run_id, run.dataset, run.features, run.evaluated))


def test_the_second_run_of_the_same_data_ends_as_already_registered(twins: Twins) -> None:
    # GIVEN run-1 registered its challenger as version 1
    deps = twins.deps
    first = _register(deps, twins.first)
    objects_before = stored_versions(deps)

    # WHEN the twin run (same dataset version, same spec version) reaches register
    second = _register(deps, twins.second)

    # THEN it registers nothing: it points at version 1, made by run-1
    assert (second.outcome, second.version, second.new, second.registered_by) == (
        "already_registered",
        first.version,
        False,
        "run-1",
    )
    assert [v["version"] for v in ModelRegistry.of(deps).versions("churn")] == [1]
    assert [e["actor"] for e in ModelRegistry.of(deps).alias_log("churn")] == ["run:run-1"]
    # AND it uploaded no artifact, and its run ended cleanly, saying so
    assert stored_versions(deps) == objects_before
    run_item = get_run(deps, "run-twin")
    assert run_item is not None
    assert (run_item["status"], run_item["outcome"], run_item["model_version"], run_item["registered_by"]) == (
        "SUCCEEDED",
        "already_registered",
        1,
        "run-1",
    )


class _LateMarker:
    """The fake table, except that the (dataset, spec) marker is invisible to reads until the first transaction:
    the run checks before its rival commits, then loses the conditional write."""

    def __init__(self, table: MetadataTable, hidden: tuple[str, str]) -> None:
        self._table, self._hidden = table, hidden
        self.rival: Any = None

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        return None if (pk, sk) == self._hidden else self._table.get(pk, sk)

    def transact(
        self,
        puts: Sequence[Mapping[str, Any]],
        counter: Counter | None = None,
        updates: Sequence[ConditionalUpdate] = (),
        deletes: Sequence[ConditionalDelete] = (),
    ) -> bool:
        if self.rival is not None:  # the rival registers just before this run's transaction
            rival, self.rival = self.rival, None
            rival()
            self._hidden = ("", "")
        return self._table.transact(puts, counter, updates, deletes)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)


def test_a_run_that_loses_the_conditional_write_registers_nothing(twins: Twins) -> None:
    # GIVEN the twin run past the "already trained?" check, with run-1 registering just before its transaction
    deps = twins.deps
    fs = twins.second.features.feature_set
    late = _LateMarker(deps.table, layout.trained_key("churn", fs.dataset_version, fs.spec_version))
    late.rival = lambda: _register(deps, twins.first)

    # WHEN the twin registers
    second = _register(dataclasses.replace(deps, table=late), twins.second)

    # THEN it lost: version 1 is run-1's and the only one; the candidate alias moved once
    assert (second.outcome, second.version, second.registered_by) == ("already_registered", 1, "run-1")
    registry = ModelRegistry.of(deps)
    assert [(v["version"], v["run_id"]) for v in registry.versions("churn")] == [(1, "run-1")]
    assert registry.table.get(*layout.version_counter_key("churn"))["value"] == 1  # type: ignore[index]
    assert [(e["version"], e["actor"]) for e in registry.alias_log("churn")] == [(1, "run:run-1")]
    # AND what it had uploaded is named on its run item (the pipeline deletes nothing), not on any version
    run_item = item_of(deps, layout.run_key("run-twin"))
    assert run_item["outcome"] == "already_registered"
    uploaded = run_item["unregistered_artifacts"]
    assert uploaded and all("/runs/run-twin/" in uri for uri in uploaded)
    assert all("run-twin" not in json.dumps(v) for v in registry.versions("churn"))


def test_concurrent_registers_of_the_same_data_make_one_version(twins: Twins) -> None:
    # GIVEN both twins evaluated
    deps = twins.deps

    # WHEN both register at the same moment, each also retried (at-least-once)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda run: _register(deps, run), [twins.first, twins.second] * 2))

    # THEN there is one version, every answer names it, and exactly one run says it registered it
    assert [v["version"] for v in ModelRegistry.of(deps).versions("churn")] == [1]
    assert {r.version for r in results} == {1}
    winners = {r.registered_by or run.run_id for r, run in zip(results, [twins.first, twins.second] * 2, strict=True)}
    assert len(winners) == 1
    assert len(ModelRegistry.of(deps).alias_log("churn")) == 1
