"""Faults per step in the local cloud: each step of the training machine failing transiently once, crashing
after its side effects (a response lost: retried), or failing permanently. Transient and lost-response
faults are retried and every effect happens exactly once (one version, one alias move, one dataset, one
candidate, each object written once); a permanent fault is caught and recorded and nothing is half
registered — a crash after Register committed leaves a complete version, which the failed run names."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest

from slipway import layout
from slipway.domain.digest import sha256_hex
from slipway.domain.lineage import model_node
from slipway.domain.run_names import run_name_for_object
from slipway.objects import S3Object
from slipway.stores.registry import ModelRegistry
from slipway.stores.specs import push_spec
from slipway_cli.samples import make_churn, to_csv_bytes
from slipway_cli.target import Target
from slipway_local import LocalCloud
from tests.conftest import ONE_FOREST, spec_variant

STEPS = {
    "validate": ("ValidateFunction", "Validate"),
    "features": ("FeaturesFunction", "Features"),
    "train": ("TrainFunction", "Train"),
    "evaluate": ("EvaluateFunction", "Evaluate"),
    "register": ("RegisterFunction", "Register"),
}
# mode -> (when, error type the step answers, does the run succeed)
MODES = {
    "transient": ("before", "TransientError", True),
    "crash": ("after", "Lambda.ServiceException", True),  # ran, then its response was lost: retried
    "permanent": ("before", "InternalError", False),
}
CASES = [(step, mode) for step in STEPS for mode in MODES] + [("register", "exit")]  # exit: crash after, not retried


@dataclass(frozen=True)
class Faulted:
    step: str
    mode: str
    model: str
    run_id: str
    execution: dict[str, Any]
    fired: int


def _model(step: str, mode: str) -> str:
    return f"fault-{step}-{mode}"


@pytest.fixture(scope="module")
def faulted(cloud: LocalCloud, dev: Target) -> dict[tuple[str, str], Faulted]:
    """One model per case, its fault armed for that model's invocations only; all uploaded at once."""
    body = to_csv_bytes(make_churn(n_rows=1_200, seed=201))
    raw, s3 = dev.outputs["RawBucketName"], cloud.client("s3", "dev")
    armed, puts = {}, {}
    for step, mode in CASES:
        model = _model(step, mode)
        push_spec(dev.deps, spec_variant(model, **ONE_FOREST))
        function, _ = STEPS[step]
        when, error, _ = MODES.get(mode, ("after", "Runtime.ExitError", False))
        armed[(step, mode)] = cloud.inject_step_fault("dev", function, when, error_type=error, marker=f'"{model}')
    for step, mode in CASES:
        puts[(step, mode)] = s3.put_object(Bucket=raw, Key=f"{_model(step, mode)}/data.csv", Body=body)["VersionId"]
    cloud.wait_idle()
    found: dict[tuple[str, str], Faulted] = {}
    for case, version_id in puts.items():
        model = _model(*case)
        run_id = run_name_for_object(raw, f"{model}/data.csv", version_id)
        (execution,) = [e for e in cloud.executions("dev") if e["name"] == run_id]
        described = cloud.wait_for_execution("dev", execution["executionArn"])
        found[case] = Faulted(*case, model, run_id, described, armed[case].fired)
    return found


def _failed_tasks(cloud: LocalCloud, arn: str) -> list[str]:
    sfn = cloud.admin_client("stepfunctions", "dev")
    history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return [e["taskFailedEventDetails"]["error"] for e in history if e["type"] == "TaskFailed"]


def _object_versions(cloud: LocalCloud, bucket: str, prefix: str) -> Counter[str]:
    s3 = cloud.admin_client("s3", "dev")
    counts: Counter[str] = Counter()
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        counts.update(v["Key"] for v in page.get("Versions", []))
    return counts


def _written(cloud: LocalCloud, dev: Target, f: Faulted) -> Counter[str]:
    """Every object the run wrote, with its number of versions."""
    lake, artifacts = dev.outputs["LakeBucketName"], dev.outputs["ArtifactsBucketName"]
    return (
        _object_versions(cloud, lake, f"curated/{f.model}/")
        + _object_versions(cloud, lake, f"features/{f.model}/")
        + _object_versions(cloud, artifacts, f"models/{f.model}/")
        + _object_versions(cloud, artifacts, f"runs/{f.run_id}/")
    )


@pytest.mark.parametrize(
    ("step", "mode"), [c for c in CASES if MODES.get(c[1], ("", "", False))[2]], ids=lambda v: str(v)
)
def test_a_retried_fault_leaves_every_effect_exactly_once(
    step: str, mode: str, faulted: dict[tuple[str, str], Faulted], cloud: LocalCloud, dev: Target
) -> None:
    f = faulted[(step, mode)]
    _, error, _ = MODES[mode]

    # THEN the step failed once, was retried by the ASL, and the run registered version 1
    assert f.fired == 1
    assert f.execution["status"] == "SUCCEEDED", f.execution.get("cause")
    assert _failed_tasks(cloud, f.execution["executionArn"]) == [error]
    assert json.loads(f.execution["output"])["model"]["version"] == 1

    # AND every effect happened once: one version, one alias move, one dataset, one feature set, one candidate
    registry = ModelRegistry.of(dev.deps)
    assert [(v["version"], v["run_id"]) for v in registry.versions(f.model)] == [(1, f.run_id)]
    assert [(e["version"], e["actor"]) for e in registry.alias_log(f.model)] == [(1, f"run:{f.run_id}")]
    assert len(dev.deps.table.query(*layout.datasets(f.model))) == 1
    assert len(dev.deps.table.query(*layout.feature_sets(f.model))) == 1
    assert len(dev.deps.table.query(*layout.candidates(f.run_id))) == 1
    assert len(dev.deps.table.query(*layout.edges(model_node(f.model, 1), "in"))) == 2
    # AND each object was written once (no second version anywhere), and the run is closed as registered
    written = _written(cloud, dev, f)
    assert written and set(written.values()) == {1}, {k: n for k, n in written.items() if n > 1}
    run = dev.deps.table.get(*layout.run_key(f.run_id))
    assert run is not None and (run["status"], run["outcome"], run["model_version"]) == ("SUCCEEDED", "registered", 1)


@pytest.mark.parametrize("step", list(STEPS))
def test_a_permanent_fault_is_caught_recorded_and_registers_nothing(
    step: str, faulted: dict[tuple[str, str], Faulted], cloud: LocalCloud, dev: Target
) -> None:
    f = faulted[(step, "permanent")]

    # THEN the run failed with the step's typed error, not retried, recorded on the run; a train fault fails its
    # candidate alone, and with the spec's only candidate gone, Evaluate fails the run as NoCandidateTrained
    failed_with, tasks = (
        ("NoCandidateTrained", ["InternalError", "NoCandidateTrained"])
        if step == "train"
        else (
            "InternalError",
            ["InternalError"],
        )
    )
    assert f.execution["status"] == "FAILED"
    assert (f.execution["error"], _failed_tasks(cloud, f.execution["executionArn"])) == (failed_with, tasks)
    run = dev.deps.table.get(*layout.run_key(f.run_id))
    assert run is not None and (run["status"], run["error_type"]) == ("FAILED", failed_with)
    # AND nothing is registered: no version, alias, (dataset, spec) marker or model artifact
    registry = ModelRegistry.of(dev.deps)
    assert registry.versions(f.model) == [] and registry.aliases(f.model) == {}
    assert dev.deps.table.query(layout.model_pk(f.model), "TRAINED#") == []
    assert _object_versions(cloud, dev.outputs["ArtifactsBucketName"], f"models/{f.model}/") == Counter()


def test_a_crash_after_register_committed_leaves_a_complete_version_named_by_the_failed_run(
    faulted: dict[tuple[str, str], Faulted], cloud: LocalCloud, dev: Target
) -> None:
    f = faulted[("register", "exit")]

    # THEN the run failed (Runtime.ExitError is not retried) ...
    assert f.execution["status"] == "FAILED" and f.execution["error"] == "Runtime.ExitError"
    # ... but Register had finished: version 1 is complete — every artifact present with its SHA-256,
    # the model card included, the alias moved and logged once
    registry = ModelRegistry.of(dev.deps)
    (version,) = registry.versions(f.model)
    assert set(version["artifacts"]) == {
        layout.MODEL_SKOPS,
        layout.MODEL_ONNX,
        layout.EXPLAINER,
        layout.MODEL_CARD_JSON,
        layout.MODEL_CARD_HTML,
        layout.DRIFT_REFERENCE,
    }
    for artifact in version["artifacts"].values():
        assert sha256_hex(dev.deps.store.get_bytes(S3Object.parse(artifact["uri"]))) == artifact["sha256"]
    assert registry.aliases(f.model) == {"candidate": 1} and len(registry.alias_log(f.model)) == 1
    # AND the failed run says which version it had registered
    run = dev.deps.table.get(*layout.run_key(f.run_id))
    assert run is not None and (run["status"], run["error_type"], run["model_version"]) == (
        "FAILED",
        "Runtime.ExitError",
        1,
    )
