"""The infer function's SnapStart hooks on the in-memory fakes, run as Lambda's runtime runs them (the hooks the
module registered with snapshot_restore_py: before the snapshot in reverse order, after a restore in order): the
snapshot holds the production model loaded and checked, a restored function serves from it, and a warm-up that fails
does not fail the snapshot. (Through the local cloud, with real clients: statemachines/test_serving_snapstart.py.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
import snapshot_restore_py

from slipway import layout
from slipway.objects import S3Object
from slipway.stores.registry import ModelRegistry
from tests.fakes import fork
from tests.unit.serving.conftest import Registered
from tests.unit.serving.test_infer_handler import Context, event, load_app
from tests.unit.serving.test_inference_service import rows

Hooks = dict[str, list[tuple[Any, Any, Any]]]


@pytest.fixture
def function(two_versions: Registered, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ModuleType, Hooks, Any]]:
    """A fresh infer module whose composition root gives the fakes (production: version 1), and the hooks its
    import registered."""
    deps = fork(two_versions.deps)
    ModelRegistry.of(deps).set_alias("churn", "production", 1, actor="test", reason="serve")
    registries = {"before": snapshot_restore_py.get_before_snapshot(), "after": snapshot_restore_py.get_after_restore()}
    sizes = {phase: len(registry) for phase, registry in registries.items()}
    app = load_app()
    hooks = {phase: registry[sizes[phase] :] for phase, registry in registries.items()}
    monkeypatch.setattr(app, "deps", lambda: deps)
    yield app, hooks, deps
    for phase, registry in registries.items():  # other copies of the module must not run this one's hooks
        registry[:] = [h for h in registry if h not in hooks[phase]]


def _run(hooks: Hooks, phase: str) -> None:
    for hook, args, kwargs in reversed(hooks[phase]) if phase == "before" else hooks[phase]:
        hook(*args, **kwargs)


def _predict(app: ModuleType) -> tuple[int, dict[str, Any]]:
    result = app.lambda_handler(event("POST", "/v1/models/churn/predict", {"instances": rows(2)}), Context())
    return result["statusCode"], json.loads(result["body"])


def test_the_snapshot_holds_the_production_model_and_a_restore_serves_from_it(
    function: tuple[ModuleType, Hooks, Any],
) -> None:
    app, hooks, deps = function
    assert len(hooks["before"]) == 1 and len(hooks["after"]) == 1
    # GIVEN a function initialised and snapshotted, no request served yet
    _run(hooks, "before")
    # WHEN the stored artifact changes behind the registry's back after the snapshot, and an environment restores
    onnx = ModelRegistry.of(deps).get_version("churn", 1)["artifacts"][layout.MODEL_ONNX]
    deps.store.put_bytes(S3Object.parse(onnx["uri"]), b"changed after the snapshot")
    _run(hooks, "after")
    # THEN the first request is answered by the model loaded and checked before the snapshot, not read again
    status, answer = _predict(app)
    assert (status, answer["version"], len(answer["predictions"])) == (200, 1, 2)


def test_a_warm_up_that_fails_does_not_fail_the_snapshot(
    function: tuple[ModuleType, Hooks, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, hooks, _ = function

    def unreachable() -> Any:
        raise ConnectionError("the metadata table is unreachable")

    monkeypatch.setattr(app, "deps", unreachable)
    _run(hooks, "before")  # logged, not raised: requests load their models as without SnapStart
    monkeypatch.setattr(app, "deps", lambda: function[2])
    _run(hooks, "after")
    assert _predict(app)[0] == 200
