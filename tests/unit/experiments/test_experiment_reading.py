"""Experiments as the registry and the lake hold them, on the in-memory fakes: each challenger split in the alias
history is one experiment (start, end, champion, weight), and what each variant served and was told by feedback is
read back through the inference service's own captures into the statistics."""

from __future__ import annotations

import json

import numpy as np
import pytest

from slipway.objects import S3Object
from slipway.ports import Deps
from slipway.stores.experiments import analyse_experiment, experiments, find_experiment
from slipway.stores.registry import ModelRegistry
from slipway.stores.specs import push_spec
from tests.fakes import fork
from tests.unit.experiments.conftest import serve_with_feedback
from tests.unit.steps.support import churn_csv, run_pipeline, spec_text


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


def test_a_business_value_goal_and_a_log_loss_guardrail_are_read_from_the_spec(registered: Deps) -> None:
    # GIVEN v3, trained under a spec whose experiment's goal is the value of each (prediction, actual): an offer to a
    # predicted churner keeps 40 when they would have churned and wastes 5 when not; log loss a guardrail
    deps = fork(registered)
    experiment = (
        "  experiment:\n    metric: value\n    payoff: {'1': {'1': 40.0, '0': -5.0}}\n"
        "    guardrails: [{metric: log_loss, max_drop: 0.5}]\n  approval:"
    )
    push_spec(deps, spec_text(replace={"  approval:": experiment}))
    run_pipeline(deps, "run-3", "churn/january.csv", churn_csv(seed=9), until="register")
    ModelRegistry.of(deps).set_alias("churn", "challenger", 3, actor="ana", reason="value test", weight=0.5)
    answers = serve_with_feedback(deps, 1_500, {1: 0.8, 3: 0.8}, batch=100, seed=8)
    # WHEN analysed
    analysis, context = analyse_experiment(deps, find_experiment(deps, "churn"))
    # THEN the goal is the mean payoff per labelled row, compared by Welch's t-test, higher being better
    assert (analysis.metric, analysis.higher_is_better, analysis.comparison.test) == ("value", True, "Welch's t-test")
    assert context["spec"]["payoff"] == {"1": {"1": 40.0, "0": -5.0}}
    feedback = {(r, i): a for r, i, a in _truths(deps)}
    for arm, version in zip(analysis.arms, (1, 3), strict=True):
        worth = [
            {(1, 1): 40.0, (1, 0): -5.0}.get((p, feedback[(a["request_id"], i)]), 0.0)
            for a in answers
            for i, (p, v) in enumerate(zip(a["predictions"], a["versions"], strict=True))
            if v == version
        ]
        assert arm.labelled == len(worth) and arm.value == pytest.approx(float(np.mean(worth)))
    # AND the log-loss guardrail is measured on the same rows
    guard = next(g for g in analysis.guardrails if g.metric == "log_loss")
    assert guard.champion is not None and 0 < guard.champion < 1.5 and guard.max_drop == 0.5


def _truths(deps: Deps) -> list[tuple[str, int, int]]:
    """Every feedback record in the lake: (request id, row, actual)."""
    found = []
    for key in deps.store.list_keys(deps.settings.lake_bucket, "feedback/churn/"):
        for line in deps.store.get_bytes(S3Object(bucket=deps.settings.lake_bucket, key=key)).splitlines():
            record = json.loads(line)
            found.append((record["request_id"], record["row"], int(record["actual"])))
    return found
