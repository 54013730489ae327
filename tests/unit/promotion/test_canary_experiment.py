"""The canary may judge its bake window as an A/B experiment (``deployment.rollback.experiment_verdict``): a
challenger whose feedback says it is significantly worse is rolled back with the experiment's reason, one that is
not yet distinguishable passes the other checks unjudged, and without the setting nothing changes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np

from slipway.objects import S3Object
from slipway.serving.service import InferenceService
from slipway.stores.specs import push_spec
from tests.unit.promotion.support import (
    Environments,
    begin_canary,
    judge_canary,
    land_captures,
    promote_directly,
    start,
    through_register,
)
from tests.unit.serving.test_inference_service import rows
from tests.unit.steps.support import churn_csv, run_pipeline, spec_text

ROLLBACK = "  rollback:                  # any one over"


def canary_with_feedback(envs: Environments, accuracy: dict[str, float], experiment: bool = True) -> dict[str, Any]:
    """dev's v3 (trained under a spec that judges the canary as an experiment, or not) canarying behind v1 in
    staging; 1,000 customers served, each prediction then told right with its variant's ``accuracy``."""
    verdict_line = "    experiment_verdict: true\n" if experiment else ""
    spec = spec_text(
        replace={
            ROLLBACK: f"  rollback:\n{verdict_line}    max_prediction_shift: null\n    # any one over",
            "    max_prediction_shift: 0.25   # PSI": "    # PSI",
        }
    )
    push_spec(envs["dev"], spec)
    run_pipeline(envs["dev"], "run-3", "churn/january.csv", churn_csv(seed=9), until="register")
    promote_directly(envs, "staging", "churn@1", "s1")
    run = begin_canary(envs, "staging", through_register(envs, "staging", start(envs, "staging", "churn@3", "s3")))
    service = InferenceService(envs["staging"], alias_ttl_s=0)
    rng = np.random.default_rng(12)
    for k, row in enumerate(rows(1_000, seed=3)):
        answer = service.predict("churn", [{**row, "customer_id": f"C{k:06d}"}], f"req-{k}").body
        predicted, variant = answer["predictions"][0], answer["variant"]
        actual = predicted if rng.random() < accuracy[variant] else 1 - predicted
        service.feedback("churn", [{"request_id": f"req-{k}", "row": 0, "actual": actual}], f"fb-{k}")
    assert service.captures.flush()
    land_captures(envs, "staging")
    envs.clock.advance(timedelta(minutes=10))
    judge_canary(envs, "staging", run)
    assert run.verdict is not None
    report: dict[str, Any] = envs.store.get_json(S3Object.parse(run.verdict.report_uri))
    return {"verdict": run.verdict, "checks": {c["name"]: c for c in report["checks"]}}


def test_a_challenger_the_feedback_says_is_worse_is_rolled_back_by_the_experiment(envs: Environments) -> None:
    # GIVEN a canary whose predictions turn out right 60 % of the time against production's 90 %
    judged = canary_with_feedback(envs, {"production": 0.9, "challenger": 0.6})
    # THEN the experiment check fails, and the canary is unhealthy for it
    check = judged["checks"]["experiment"]
    assert check["passed"] is False and "experiment verdict: champion better" in check["message"]
    assert not judged["verdict"].healthy
    assert any(r.startswith("experiment verdict: champion better") for r in judged["verdict"].reasons)


def test_an_indistinguishable_challenger_is_not_judged_by_the_experiment(envs: Environments) -> None:
    judged = canary_with_feedback(envs, {"production": 0.8, "challenger": 0.8})
    check = judged["checks"]["experiment"]
    assert check["passed"] is None and "keep running" in check["message"]
    assert judged["verdict"].healthy, judged["verdict"].reasons


def test_without_the_setting_the_canary_has_no_experiment_check(envs: Environments) -> None:
    judged = canary_with_feedback(envs, {"production": 0.9, "challenger": 0.6}, experiment=False)
    assert "experiment" not in judged["checks"] and judged["verdict"].healthy
