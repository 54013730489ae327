"""Experiments as the registry and the lake hold them, on the in-memory fakes: each challenger split in the alias
history is one experiment (start, end, champion, weight), and what each variant served and was told by feedback is
read back through the inference service's own captures into the statistics."""

from __future__ import annotations

from slipway.ports import Deps
from slipway.stores.experiments import analyse_experiment, experiments, find_experiment
from slipway.stores.registry import ModelRegistry
from tests.fakes import fork
from tests.unit.experiments.conftest import serve_with_feedback


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
