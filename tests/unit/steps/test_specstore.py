"""`slipway spec push`: a spec is stored once per content, the current pointer follows the latest push,
and an invalid spec is refused naming the field at fault before anything is written."""

from __future__ import annotations

import pytest

from slipway import layout
from slipway.errors import SpecError
from slipway.objects import S3Object
from slipway.spec import load_spec
from slipway.stores.specs import current_spec, push_spec
from tests.fakes import fake_deps
from tests.unit.steps.support import item_of, spec_text, stored_versions, table_keys


def test_the_same_spec_pushed_twice_is_one_version() -> None:
    # GIVEN an environment where the churn spec was pushed
    deps = fake_deps()
    first = push_spec(deps, spec_text())

    # WHEN the same text is pushed again
    again = push_spec(deps, spec_text())

    # THEN it is the same version, not new, and the model has exactly one spec version item
    assert (first["new"], again["new"]) == (True, False)
    assert again["version"] == first["version"]
    every_version = layout.spec_versions("churn")
    assert [i["version"] for i in deps.table.query(*every_version)] == [first["version"]]
    # AND the stored spec reads back as the spec that was pushed
    stored = deps.store.get_bytes(S3Object.parse(first["uri"]))
    assert load_spec(stored) == load_spec(spec_text())
    assert first["uri"] == layout.spec_object(deps.settings.artifacts_bucket, "churn", first["version"]).uri


def test_a_spec_pushed_twice_is_stored_once() -> None:
    # GIVEN an environment where the churn spec was pushed
    deps = fake_deps()
    pushed = push_spec(deps, spec_text())

    # WHEN the same text is pushed again
    push_spec(deps, spec_text())

    # THEN the spec object was not written a second time (habit 7: a re-run finds no duplicate)
    spec_obj = layout.spec_object(deps.settings.artifacts_bucket, "churn", pushed["version"])
    assert stored_versions(deps)[(spec_obj.bucket, spec_obj.key)] == 1


def test_the_current_pointer_follows_the_latest_push() -> None:
    # GIVEN a pushed spec
    deps = fake_deps()
    first = push_spec(deps, spec_text())

    # WHEN a changed spec (a stricter gate) is pushed
    second = push_spec(deps, spec_text(replace={"min_metrics: {roc_auc: 0.70}": "min_metrics: {roc_auc: 0.80}"}))

    # THEN it is a new version, the model's current spec, and the first version is still recorded
    assert second["new"] and second["version"] != first["version"]
    spec, version = current_spec(deps, "churn")
    assert version == second["version"]
    assert spec.gates.min_metrics == {"roc_auc": 0.80}
    assert item_of(deps, layout.spec_pointer_key("churn"))["version"] == second["version"]
    assert deps.table.get(*layout.spec_version_key("churn", first["version"])) is not None

    # AND pushing the first text again moves the pointer back without a new version
    back = push_spec(deps, spec_text())
    assert (back["version"], back["new"]) == (first["version"], False)
    assert current_spec(deps, "churn")[1] == first["version"]


def test_an_invalid_spec_is_refused_naming_the_field_and_nothing_is_written() -> None:
    # GIVEN a spec whose selection metric does not fit its task
    deps = fake_deps()
    broken = spec_text(replace={"metric: roc_auc": "metric: rmse"})

    # WHEN it is pushed
    with pytest.raises(SpecError) as raised:
        push_spec(deps, broken)

    # THEN the error names the field at fault, and no spec item or object exists
    assert [e["field"] for e in raised.value.details["errors"]] == ["training.metric"]
    assert "training.metric" in str(raised.value)
    assert table_keys(deps) == set()
    assert stored_versions(deps) == {}


def test_a_model_without_a_pushed_spec_has_no_current_spec() -> None:
    # GIVEN an environment where no spec was pushed for "churn"
    deps = fake_deps()

    # WHEN its current spec is asked for
    # THEN a SpecError names the model
    with pytest.raises(SpecError, match="no model spec pushed for model 'churn'"):
        current_spec(deps, "churn")
