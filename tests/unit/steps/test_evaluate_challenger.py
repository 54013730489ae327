"""evaluate_challenger: the best candidate by the spec's metric is measured on the test split, the spec's
gates decide, and an evaluation report is written; the registry is untouched and a tampered candidate
is refused."""

from __future__ import annotations

import dataclasses

import pytest

from slipway import layout
from slipway.contracts.training import CandidateFailure, FailedCandidate
from slipway.errors import ArtifactIntegrityError
from slipway.objects import S3Object
from slipway.steps.training.evaluate_challenger import evaluate_challenger
from slipway.stores.registry import ModelRegistry
from slipway.stores.runs import candidates_of, get_run
from slipway.stores.specs import push_spec
from tests.fakes import fork
from tests.unit.steps.support import Pipeline, churn_csv, evaluate_request, item_of, run_pipeline, spec_text


def test_the_best_candidate_by_the_spec_metric_becomes_the_challenger(evaluated: Pipeline) -> None:
    # GIVEN run-1's two trained candidates on 600 rows: cross-validated (training.cv: auto), selected on roc_auc
    run = evaluated.run
    assert all(t.cv is not None and t.cv["folds"] == 5 for t in run.trained)
    by_roc_auc = max(run.trained, key=lambda t: t.cv["mean"]["roc_auc"] if t.cv else 0.0)

    # WHEN the run was evaluated
    evaluation = run.evaluated

    # THEN the challenger is the candidate with the best mean roc_auc over the folds, as it was trained (no refit)
    assert evaluation.best == by_roc_auc and not evaluation.refitted
    run_item = get_run(evaluated.deps, run.run_id)
    assert run_item is not None and run_item["best_candidate"] == by_roc_auc.index


def test_a_challenger_above_the_gates_passes(evaluated: Pipeline) -> None:
    # GIVEN the spec's gates (roc_auc >= 0.70, fairness gap <= 0.25) and no champion yet
    deps, evaluation = evaluated.deps, evaluated.run.evaluated

    # WHEN a user reads the gate decision
    gate = evaluation.gate

    # THEN it passed, with no reasons, on test metrics that meet the floor
    assert (gate.passed, gate.reasons) == (True, [])
    assert gate.summary.startswith("passed all")
    assert evaluation.test_metrics["roc_auc"] >= 0.70
    assert evaluation.champion is None
    # AND the run records the decision and the test metrics
    run_item = item_of(deps, layout.run_key("run-1"))
    assert (run_item["gate_passed"], run_item["gate_summary"]) == (True, gate.summary)
    assert run_item["test_metrics"]["roc_auc"] == pytest.approx(evaluation.test_metrics["roc_auc"])


def test_the_evaluation_report_is_written_for_the_run(evaluated: Pipeline) -> None:
    # GIVEN the evaluated run-1
    deps, run = evaluated.deps, evaluated.run
    evaluation = run.evaluated

    # WHEN a user opens the run's evaluation report
    report_obj = layout.evaluation_report(deps.settings.artifacts_bucket, run.run_id)
    report = deps.store.get_json(report_obj)

    # THEN it is where the result and the run item point, and holds what was decided and why
    assert evaluation.report_uri == report_obj.uri == item_of(deps, layout.run_key(run.run_id))["evaluation_uri"]
    assert [c["index"] for c in report["candidates"]] == [t.index for t in run.trained]
    assert report["best"]["index"] == evaluation.best.index
    assert report["test_metrics"]["roc_auc"] == pytest.approx(evaluation.test_metrics["roc_auc"])
    assert report["gate"]["passed"] is True
    assert set(report["fairness"]) == {"gender"}
    assert report["importances"], "permutation importances of the challenger"
    assert report["rows"] == run.features.feature_set.rows


def test_evaluating_leaves_the_registry_untouched(evaluated: Pipeline) -> None:
    # GIVEN a run evaluated but not registered
    deps = evaluated.deps
    registry = ModelRegistry.of(deps)

    # WHEN a user lists the model's versions and aliases
    # THEN there are none, and no version number was taken
    assert registry.versions("churn") == []
    assert registry.aliases("churn") == {}
    assert deps.table.get(*layout.version_counter_key("churn")) is None
    assert deps.table.get(*layout.registered_by_key("churn", "run-1")) is None


def test_a_challenger_below_an_impossible_floor_fails_the_gate_with_reasons(evaluated: Pipeline) -> None:
    # GIVEN the churn spec re-pushed with a roc_auc floor no model reaches on this data
    deps = fork(evaluated.deps)
    push_spec(deps, spec_text(replace={"min_metrics: {roc_auc: 0.70}": "min_metrics: {roc_auc: 0.999}"}))

    # WHEN the same data is uploaded again and a run goes through evaluate
    run = run_pipeline(deps, "run-strict", "churn/again.csv", churn_csv())

    # THEN the gate failed, and the reason names the metric, its value and the floor
    gate = run.evaluated.gate
    assert gate.passed is False
    assert len(gate.reasons) == 1
    assert gate.reasons[0].startswith("roc_auc ") and gate.reasons[0].endswith("< min 0.999")
    assert gate.summary.startswith("failed 1 of")
    # AND the run and its report record the failed gate, and nothing was registered
    assert item_of(deps, layout.run_key("run-strict"))["gate_passed"] is False
    assert deps.store.get_json(S3Object.parse(run.evaluated.report_uri))["gate"]["reasons"] == gate.reasons
    assert ModelRegistry.of(deps).versions("churn") == []


def test_a_candidate_tampered_between_train_and_evaluate_is_refused(evaluated: Pipeline) -> None:
    # GIVEN run-1's trained candidates, and the stored bytes of the one evaluate picks overwritten
    deps = fork(evaluated.deps)
    run = evaluated.run
    best = next(t for t in run.trained if t.index == run.evaluated.best.index)  # as trained (before its refit)
    deps.store.put_bytes(S3Object.parse(best.model_uri), b"not the model that was trained")
    report = layout.evaluation_report(deps.settings.artifacts_bucket, run.run_id)
    reports_before = deps.store.versions(report)

    # WHEN the evaluate step runs (a retry of the state)
    with pytest.raises(ArtifactIntegrityError) as raised:
        evaluate_challenger(deps, evaluate_request(run.run_id, run.dataset, run.features, run.trained))

    # THEN the error names the artifact and the SHA-256 recorded for it
    assert raised.value.details["what"] == best.model_uri
    assert raised.value.details["expected"] == best.model_sha256
    # AND no evaluation report was written
    assert deps.store.versions(report) == reports_before


def test_a_candidate_past_its_memory_or_time_is_recorded_naming_the_limit(evaluated: Pipeline) -> None:
    # GIVEN run-1's trained candidates and two more whose Train ended at Lambda's limits (as the Map's Catch passes
    # them on), evaluated where the train function has 3008 MB and 900 s
    deps = fork(evaluated.deps)
    limits = dataclasses.replace(deps.settings, train_memory_mb=3008, train_timeout_s=900)
    deps = dataclasses.replace(deps, settings=limits)
    run = evaluated.run
    failed = [
        FailedCandidate(index=7, algorithm="random_forest", params={"max_depth": None},
                        failed=CandidateFailure(error="Runtime.OutOfMemory", cause="memory over 3008 MB")),
        FailedCandidate(index=8, algorithm="lightgbm", params={"n_estimators": 100000},
                        failed=CandidateFailure(error="Sandbox.Timedout", cause="Task timed out after 900.00 seconds")),
    ]  # fmt: skip
    request = evaluate_request(run.run_id, run.dataset, run.features, run.trained)
    request = request.model_copy(update={"trained": [*request.trained, *failed]})

    # WHEN the evaluate step runs
    evaluation = evaluate_challenger(deps, request)

    # THEN the others' best is the challenger, and each failed candidate's record names the limit it met
    assert evaluation.best.index in {t.index for t in run.trained}
    records = {int(c["index"]): c for c in candidates_of(deps, run.run_id)}
    assert (records[7]["status"], records[7]["limit"]) == ("FAILED", "3008 MB of memory")
    assert (records[8]["status"], records[8]["limit"]) == ("FAILED", "900 s of time")
