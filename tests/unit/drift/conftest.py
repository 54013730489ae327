"""A churn version registered in dev on the fakes (once per session) and put into production; each test gets its
own copy. Traffic is served through the inference service and landed in the lake as the capture stream does."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from slipway import layout
from slipway.objects import S3Object
from slipway.ports import Deps
from slipway.serving.service import InferenceService
from slipway.stores.registry import ModelRegistry
from slipway.stores.specs import push_spec
from tests.fakes import FakeCaptureSink, fake_deps, fork
from tests.unit.serving.test_inference_service import rows
from tests.unit.steps.support import churn_csv, run_pipeline, spec_text

MONITORING = """
monitoring:
  window: 1d
  min_sample: 50
  performance: {metric: accuracy, max_drop: 0.05, min_samples: 50, resamples: 300}
  retraining: {policy: retrain, cooldown: 1d}
"""


@pytest.fixture(scope="session")
def production() -> Iterator[Deps]:
    with threadpool_limits(limits=1):
        dev = fake_deps()
        push_spec(dev, spec_text() + MONITORING)
        run_pipeline(dev, "run-1", "churn/customers.csv", churn_csv(n_rows=2000), until="register")
        ModelRegistry.of(dev).set_alias("churn", "production", 1, actor="test", reason="serve")
        yield dev


@pytest.fixture
def dev(production: Deps) -> Deps:
    return fork(production)


def land(deps: Deps) -> int:
    """Deliver what the capture sink received into the lake as the capture stream does: JSON lines under
    ``captures|feedback/<model>/dt=<day>/``, one object per batch."""
    sink = deps.captures
    assert isinstance(sink, FakeCaptureSink)
    records, sink.records = list(sink.records), []
    batches: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        build = layout.captures_prefix if record["kind"] == "captures" else layout.feedback_prefix
        batches.setdefault(build(record["model"], record["at"][:10]), []).append(record)
    for prefix, batch in batches.items():
        body = "\n".join(json.dumps(r) for r in batch).encode()
        key = f"{prefix}{deps.clock.now().isoformat()}.json"
        deps.store.put_bytes(S3Object(bucket=deps.settings.lake_bucket, key=key), body)
    return len(records)


Shift = Callable[[dict[str, Any]], dict[str, Any]]


def serve(deps: Deps, n: int, seed: int = 3, shift: Shift | None = None, prefix: str = "req") -> list[dict[str, Any]]:
    """``n`` one-row requests (each row changed by ``shift``) to the inference service, landed in the lake."""
    service = InferenceService(deps, alias_ttl_s=0)
    answers = []
    for k, row in enumerate(rows(n, seed=seed)):
        sent = shift(row) if shift else row
        answers.append(service.predict("churn", [sent], f"{prefix}-{seed}-{k}").body)
    assert service.captures.flush()
    land(deps)
    return answers


def feedback(deps: Deps, answers: list[dict[str, Any]], wrong: float, seed: int = 0) -> None:
    """Ground truth for each answer: its own prediction, except a ``wrong`` share flipped."""
    rng = np.random.default_rng(seed)
    service = InferenceService(deps, alias_ttl_s=0)
    items = []
    for a in answers:
        predicted = a["predictions"][0]
        actual = (1 - predicted) if rng.random() < wrong else predicted
        items.append({"request_id": a["request_id"], "row": 0, "actual": actual})
    service.feedback("churn", items, "fb-1")
    assert service.captures.flush()
    land(deps)
