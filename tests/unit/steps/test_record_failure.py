"""record_failure: the state machine's Catch marks the run FAILED with the typed error and a readable
message, keeping when the run started so `slipway runs` lists it in place."""

from __future__ import annotations

import json
from typing import Any

import pytest

from slipway import layout
from slipway.contracts.training import FailureReport
from slipway.errors import DataContractViolation
from slipway.ports import Deps
from slipway.steps.training.record_failure import record_failure
from slipway.steps.training.validate_dataset import validate_dataset
from slipway.stores.runs import get_run, list_runs
from slipway_cli.samples import corrupt, make_churn, to_csv_bytes
from tests.fakes import fake_deps
from tests.unit.steps.support import item_of, spec_pushed, upload


def _catch(run_id: str, error: str, cause: str) -> FailureReport:
    """The RecordFailure task's input: the run id and the Catch's {Error, Cause}."""
    event: dict[str, Any] = {
        "run_id": run_id,
        "state_machine": "slipway-dev-training",
        "error": {"Error": error, "Cause": cause},
    }
    return FailureReport.from_event(event)


def _lambda_cause(error: Exception) -> str:
    """The Cause Step Functions reports for an exception raised in a Python Lambda."""
    return json.dumps({"errorMessage": str(error), "errorType": type(error).__name__, "stackTrace": ["..."]})


@pytest.fixture
def failed_validation() -> tuple[Deps, DataContractViolation]:
    """A run whose validate step rejected a corrupt upload (the run is still RUNNING)."""
    deps = spec_pushed()
    raw = upload(deps, "churn/bad.csv", to_csv_bytes(corrupt(make_churn(n_rows=300, seed=7))))
    with pytest.raises(DataContractViolation) as raised:
        validate_dataset(deps, raw, "run-bad")
    return deps, raised.value


def test_a_lambda_error_marks_the_run_failed_with_its_type_and_message(
    failed_validation: tuple[Deps, DataContractViolation],
) -> None:
    # GIVEN a run whose validate step raised DataContractViolation
    deps, error = failed_validation
    started = item_of(deps, layout.run_key("run-bad"))
    assert started["status"] == "RUNNING"

    # WHEN the Catch delivers the Lambda's error to record_failure
    result = record_failure(deps, _catch("run-bad", "DataContractViolation", _lambda_cause(error)))

    # THEN the run is FAILED with the error type and the Lambda's message (not the JSON around it)
    run = item_of(deps, layout.run_key("run-bad"))
    assert result == {"run_id": "run-bad", "status": "FAILED", "error_type": "DataContractViolation"}
    assert (run["status"], run["error_type"]) == ("FAILED", "DataContractViolation")
    assert run["error_message"] == str(error)
    assert "churn/bad.csv broke the data contract of 'churn'" in run["error_message"]
    assert run["state_machine"] == "slipway-dev-training"
    # AND it keeps its start time and what it had recorded, and has ended after it started
    assert (run["started_at"], run["model"], run["raw_uri"]) == (
        started["started_at"],
        "churn",
        started["raw_uri"],
    )
    assert run["ended_at"] > run["started_at"]


def test_a_failed_gate_keeps_its_plain_text_cause() -> None:
    # GIVEN a run whose gate failed: the state machine's GateFailed state passes the gate summary as Cause
    deps = fake_deps()
    summary = "failed 1 of 3 gates: roc_auc 0.812 < min 0.999"

    # WHEN record_failure runs
    record_failure(deps, _catch("run-gated", "QualityGateFailed", summary))

    # THEN the message is the summary as given, and the run is listed (newest first) as FAILED
    run = get_run(deps, "run-gated")
    assert run is not None
    assert (run["status"], run["error_type"], run["error_message"]) == ("FAILED", "QualityGateFailed", summary)
    assert [(r["run_id"], r["status"]) for r in list_runs(deps)] == [("run-gated", "FAILED")]
