"""churn v1 and v2 registered on the in-memory fakes with v1 in production (once per session), and a way to serve
customers through the inference service with feedback of a known accuracy per version, landed in the lake."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from slipway.ports import Deps
from slipway.serving.service import InferenceService
from slipway.stores.registry import ModelRegistry
from slipway.stores.specs import push_spec
from tests.fakes import fake_deps
from tests.unit.drift.conftest import land
from tests.unit.serving.test_inference_service import rows
from tests.unit.steps.support import churn_csv, run_pipeline, spec_text


@pytest.fixture(scope="session")
def registered() -> Iterator[Deps]:
    """churn v1 and v2 on the fakes, v1 in production."""
    with threadpool_limits(limits=1):
        deps = fake_deps()
        push_spec(deps, spec_text())
        run_pipeline(deps, "run-1", "churn/customers.csv", churn_csv(), until="register")
        run_pipeline(deps, "run-2", "churn/december.csv", churn_csv(seed=8), until="register")
        ModelRegistry.of(deps).set_alias("churn", "production", 1, actor="ops", reason="first release")
        yield deps


def serve_with_feedback(
    deps: Deps, n: int, accuracy: dict[int, float], batch: int = 250, seed: int = 4
) -> list[dict[str, Any]]:
    """``n`` customers in requests of ``batch`` rows, and feedback for each row: its prediction was right with its
    version's ``accuracy``."""
    rng = np.random.default_rng(seed)
    service = InferenceService(deps, alias_ttl_s=0)
    answers = []
    sent = rows(n, seed=seed)
    for k in range(0, n, batch):
        answer = service.predict("churn", sent[k : k + batch], f"req-{seed}-{k}").body
        items = [
            {"request_id": answer["request_id"], "row": i, "actual": p if rng.random() < accuracy[v] else 1 - p}
            for i, (p, v) in enumerate(zip(answer["predictions"], answer["versions"], strict=True))
        ]
        service.feedback("churn", items, f"fb-{seed}-{k}")
        answers.append(answer)
    assert service.captures.flush()
    land(deps)
    return answers
