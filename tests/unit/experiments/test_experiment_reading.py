"""Experiments as the registry and the lake hold them, on the in-memory fakes: each challenger split in the alias
history is one experiment (start, end, champion, weight), and what each variant served and was told by feedback is
read back through the inference service's own captures into the statistics."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from slipway.ports import Deps
from slipway.serving.service import InferenceService
from slipway.stores.experiments import analyse_experiment, experiments, find_experiment
from slipway.stores.registry import ModelRegistry
from slipway.stores.specs import push_spec
from tests.fakes import fake_deps, fork
from tests.unit.drift.conftest import land
from tests.unit.serving.test_inference_service import rows
from tests.unit.steps.support import churn_csv, run_pipeline, spec_text


@pytest.fixture(scope="module")
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


def test_each_challenger_split_in_the_alias_history_is_an_experiment(registered: Deps) -> None:
    # GIVEN v1 in production, then v2 as the challenger at 20 %, then at 50 %, then cleared
    deps = fork(registered)
    registry = ModelRegistry.of(deps)
    registry.set_alias("churn", "challenger", 2, actor="ana", reason="try v2", weight=0.2)
    registry.set_alias("churn", "challenger", 2, actor="ana", reason="ramp up", weight=0.5)
    registry.clear_alias("churn", "challenger", actor="ana", reason="done")
    registry.set_alias("churn", "challenger", 2, actor="bo", reason="again", weight=0.1)
    # WHEN the experiments are listed
    found = experiments(deps, "churn")
    # THEN each split is one, with its champion, challenger, weight and window; the last still runs
    assert [(e.number, e.champion, e.challenger, e.weight, e.status) for e in found] == [
        (1, 1, 2, 0.2, "ended"),
        (2, 1, 2, 0.5, "ended"),
        (3, 1, 2, 0.1, "running"),
    ]
    assert found[0].end == found[1].start and found[1].end is not None and found[1].end < found[2].start
    assert (found[2].started_by, found[2].reason) == ("bo", "again")
    assert find_experiment(deps, "churn") == found[2] and find_experiment(deps, "churn", 1) == found[0]


def test_a_promotion_ends_the_experiment(registered: Deps) -> None:
    deps = fork(registered)
    registry = ModelRegistry.of(deps)
    registry.set_alias("churn", "challenger", 2, actor="sfn", reason="canary", weight=0.2)
    registry.set_alias("churn", "production", 2, actor="sfn", reason="promote")
    registry.clear_alias("churn", "challenger", actor="sfn", reason="promoted")
    (only,) = experiments(deps, "churn")
    assert (only.champion, only.challenger, only.status) == (1, 2, "ended")


def test_what_each_variant_served_and_was_told_is_read_into_the_verdict(registered: Deps) -> None:
    # GIVEN v2 challenging v1 on 20 % of customers, 4,000 customers served in batches, and feedback saying v1 was
    # right 70 % of the time and v2 85 %
    deps = fork(registered)
    ModelRegistry.of(deps).set_alias("churn", "challenger", 2, actor="ana", reason="try v2", weight=0.2)
    answers = serve_with_feedback(deps, 4_000, {1: 0.70, 2: 0.85})
    served = [v for a in answers for v in a["versions"]]
    # WHEN the experiment is analysed
    analysis, context = analyse_experiment(deps, find_experiment(deps, "churn"))
    champion, challenger = analysis.arms
    # THEN each variant's rows, units (customers) and labelled rows are what was served
    assert (champion.rows, challenger.rows) == (served.count(1), served.count(2))
    assert (champion.units, challenger.units) == (served.count(1), served.count(2))  # one row per customer
    assert (champion.labelled, challenger.labelled) == (served.count(1), served.count(2))
    assert challenger.requests == len(answers)  # rows of one request went both ways (by customer id)
    # AND the outcome is accuracy by a z-test, each variant's interval holding its true accuracy, and the verdict
    assert analysis.metric == "accuracy" and analysis.comparison.test == "two-proportion z-test"
    assert champion.low is not None and champion.high is not None and champion.low < 0.70 < champion.high
    assert challenger.low is not None and challenger.high is not None and challenger.low < 0.85 < challenger.high
    assert analysis.verdict == "challenger better" and not analysis.srm.flagged
    assert context["window"]["start"] <= context["window"]["end"] and context["labels"] == [0, 1]
