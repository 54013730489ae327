"""reproduce: a registered version is fitted again from its recorded lineage and must measure the same;
curated data that no longer hashes to its dataset version is refused."""

from __future__ import annotations

import pytest

from slipway import layout
from slipway.errors import ArtifactIntegrityError
from slipway.objects import S3Object
from slipway.ports import Deps
from slipway.steps.training.register_version import register_version
from slipway.steps.training.reproduce import reproduce
from slipway.stores.registry import ModelRegistry
from tests.fakes import fork
from tests.unit.steps.support import Pipeline, item_of, register_request


@pytest.fixture(scope="module")
def registered(evaluated: Pipeline) -> Deps:
    """run-1 registered as churn version 1."""
    deps = fork(evaluated.deps)
    run = evaluated.run
    register_version(deps, register_request(run.run_id, run.dataset, run.features, run.evaluated))
    return deps


def test_a_registered_version_reproduces_identically(registered: Deps) -> None:
    # GIVEN churn version 1, registered from run-1
    version = ModelRegistry.of(registered).resolve("churn@1")

    # WHEN it is reproduced from its lineage
    result = reproduce(registered, version)

    # THEN the feature set and every recorded test metric come out identical
    assert (result["model"], result["version"]) == ("churn", 1)
    assert result["identical"] is True and result["feature_set_matches"] is True
    assert {r["metric"] for r in result["metrics"]} >= {"roc_auc", "f1", "accuracy"}
    assert all(r["diff"] == 0 for r in result["metrics"])
    assert result["status"] == "identical" and result["reproduced"] is True


def test_tampered_curated_data_is_refused(registered: Deps) -> None:
    # GIVEN version 1, and its curated dataset overwritten in the lake with other bytes
    deps = fork(registered)
    version = ModelRegistry.of(deps).resolve("churn@1")
    dataset = item_of(deps, layout.dataset_key("churn", version["dataset_version"]))
    curated = S3Object.parse(dataset["curated_uri"])
    deps.store.put_bytes(curated, deps.store.get_bytes(curated) + b"\x00")

    # WHEN it is reproduced
    # THEN an ArtifactIntegrityError names the curated object and the dataset version it should hash to
    with pytest.raises(ArtifactIntegrityError) as raised:
        reproduce(deps, version)
    assert raised.value.details["what"] == dataset["curated_uri"]
    assert raised.value.details["expected"] == version["dataset_version"]
