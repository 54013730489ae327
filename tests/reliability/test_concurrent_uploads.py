"""Twenty uploads at once in the local cloud — ten distinct files, and two of them uploaded five more
times under other names — make one run per object, one dataset version per content, one model version
per (dataset version, spec version), gapless version numbers, and an alias log that loses no move."""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from slipway import layout
from slipway.domain.run_names import run_name_for_object
from slipway.stores.registry import ModelRegistry
from slipway.stores.specs import push_spec
from slipway_cli.samples import make_churn, to_csv_bytes
from slipway_cli.target import Target
from slipway_local import LocalCloud
from tests.conftest import ONE_FOREST, spec_variant

MODEL = "concurrent"
# Gates every one of these small samples passes: the test is about concurrency, not model quality.
NO_HARD_GATES = {
    "  min_metrics: {roc_auc: 0.70}\n  max_regression: {roc_auc: 0.02}\n"
    "  max_fairness_gap: {demographic_parity_difference: 0.25}\n": "  min_metrics: {roc_auc: 0.5}\n"
}


@dataclass(frozen=True)
class Upload:
    key: str
    content: int  # which of the distinct files
    run_id: str
    execution: dict[str, Any]

    @property
    def output(self) -> dict[str, Any]:
        return json.loads(self.execution.get("output") or "{}")  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def uploads(cloud: LocalCloud, dev: Target) -> list[Upload]:
    push_spec(dev.deps, spec_variant(MODEL, **ONE_FOREST, **NO_HARD_GATES))
    bodies = [to_csv_bytes(make_churn(n_rows=1_200, seed=300 + n)) for n in range(10)]
    plan = [(f"{MODEL}/file-{n}.csv", n) for n in range(10)]
    plan += [(f"{MODEL}/copy-{c}-of-{n}.csv", n) for n in (0, 1) for c in range(5)]
    raw, s3 = dev.outputs["RawBucketName"], cloud.client("s3", "dev")

    def put(entry: tuple[str, int]) -> tuple[str, int, str]:
        key, content = entry
        return key, content, s3.put_object(Bucket=raw, Key=key, Body=bodies[content])["VersionId"]

    with ThreadPoolExecutor(20) as pool:
        puts = list(pool.map(put, plan))
    cloud.wait_idle()
    executions = {e["name"]: e["executionArn"] for e in cloud.executions("dev")}
    found = []
    for key, content, version_id in puts:
        run_id = run_name_for_object(raw, key, version_id)
        found.append(Upload(key, content, run_id, cloud.wait_for_execution("dev", executions[run_id])))
    return found


def test_twenty_uploads_are_twenty_runs_that_all_end_cleanly(uploads: list[Upload], cloud: LocalCloud) -> None:
    names = Counter(e["name"] for e in cloud.executions("dev"))
    assert len(uploads) == 20
    assert all(names[u.run_id] == 1 for u in uploads)
    assert [u.execution["status"] for u in uploads] == ["SUCCEEDED"] * 20, [
        (u.key, u.execution.get("cause")) for u in uploads if u.execution["status"] != "SUCCEEDED"
    ]


def test_one_dataset_version_per_content_and_one_model_version_per_dataset(uploads: list[Upload], dev: Target) -> None:
    # THEN the ten contents are ten dataset versions, each uploaded copy curated to its original's version
    by_content: dict[int, set[str]] = {}
    for u in uploads:
        by_content.setdefault(u.content, set()).add(u.output["dataset"]["dataset_version"])
    assert all(len(v) == 1 for v in by_content.values()) and len(by_content) == 10
    datasets = {d["version"] for d in dev.deps.table.query(*layout.datasets(MODEL))}
    assert datasets == {v for versions in by_content.values() for v in versions}

    # AND there are ten model versions, numbered 1..10, one per dataset version
    versions = ModelRegistry.of(dev.deps).versions(MODEL)
    assert [v["version"] for v in versions] == list(range(1, 11))
    assert sorted(v["dataset_version"] for v in versions) == sorted(datasets)

    # AND every upload of a content names that content's one version: one run registered it, the
    # others ended as already registered (they raced) or had nothing to train (they came after)
    for content, (dataset,) in by_content.items():
        (version,) = [v["version"] for v in versions if v["dataset_version"] == dataset]
        runs = [u for u in uploads if u.content == content]
        assert {
            u.output["model"]["version"] if "model" in u.output else u.output["dataset"]["trained_version"]
            for u in runs
        } == {version}
        outcomes = Counter(dev.deps.table.get(*layout.run_key(u.run_id))["outcome"] for u in runs)  # type: ignore[index]
        assert outcomes["registered"] == 1 and sum(outcomes.values()) == len(runs), (content, outcomes)
        assert set(outcomes) <= {"registered", "already_registered", "nothing_to_train"}


def test_the_alias_log_loses_no_move_and_ends_on_the_newest_version(uploads: list[Upload], dev: Target) -> None:
    registry = ModelRegistry.of(dev.deps)
    log = registry.alias_log(MODEL)

    # THEN the candidate alias points at the newest version, and its log is one unbroken chain of forward moves:
    # each entry replaced exactly the version the entry before it set (a lost update would break the chain)
    assert registry.alias(MODEL, "candidate") == 10
    assert [e.get("previous_version") for e in log] == [None, *[e["version"] for e in log[:-1]]]
    assert [e["version"] for e in log] == sorted(e["version"] for e in log) and log[-1]["version"] == 10
    # AND every move was made by the run that registered that version
    by_version = {v["version"]: v["run_id"] for v in registry.versions(MODEL)}
    assert all(e["actor"] == f"run:{by_version[e['version']]}" for e in log)
