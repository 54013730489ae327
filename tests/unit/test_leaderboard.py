"""The leaderboard: each candidate's serving cost (ONNX size, prediction time per 1,000 rows, measured the same way
for every candidate) and why each one that was not registered lost — on scikit-learn's breast cancer table, and in
the model card."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest
from sklearn.dummy import DummyClassifier
from threadpoolctl import threadpool_limits

from slipway.domain.artifacts_codec import to_onnx
from slipway.domain.evaluation import GateDecision
from slipway.domain.features import fit_features, model_input_frame
from slipway.domain.leaderboard import outcomes, serving_cost
from slipway.domain.model_card import build_model_card, render_html
from slipway.domain.training import Candidate, assemble, fit_estimator
from slipway.spec import load_spec
from tests.conftest import SPECS
from tests.statemachines.test_sklearn_datasets import DATASETS


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """One OpenMP/BLAS thread unless a test asks for more: on a shared two-core machine, OpenMP threads spinning
    against other processes' made a 107-row HistGradientBoosting fit ~35 times slower (28 s against 0.8 s)."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def breast_cancer() -> Any:
    spec = load_spec((SPECS / "breast-cancer.yaml").read_text())
    assert spec.features is not None and spec.training is not None
    table = pa.Table.from_pandas(DATASETS["breast-cancer"](), preserve_index=False)
    return table, fit_features(table, spec.data, spec.features, spec.training.split, "classification")


def test_every_candidate_is_measured_on_the_same_1000_rows(breast_cancer: Any) -> None:
    # GIVEN two candidates of different sizes fitted on breast cancer's training split, and its 114 validation rows
    table, fitted = breast_cancer
    valid = model_input_frame(table.take(fitted.split["valid"]), fitted.inputs)
    costs = {}
    for algorithm, params in (("logistic_regression", {}), ("xgboost", {"n_estimators": 200})):
        estimator, _ = fit_estimator(
            fitted.transformed["train"], fitted.target["train"], "classification", Candidate(0, algorithm, params), 1
        )
        pipeline = assemble(fitted.preprocessor_, estimator)
        # WHEN each one's serving cost is measured
        costs[algorithm] = (serving_cost(pipeline, fitted.inputs, valid), len(to_onnx(pipeline, fitted.inputs)))

    # THEN each records its ONNX export's size in bytes and a prediction time per 1,000 rows
    for cost, size in costs.values():
        assert cost["onnx_bytes"] == size and cost["predict_ms_per_1000"] > 0
    # AND 200 trees take more bytes than 30 coefficients
    assert costs["xgboost"][0]["onnx_bytes"] > 10 * costs["logistic_regression"][0]["onnx_bytes"]


def test_a_model_that_does_not_convert_says_why(breast_cancer: Any) -> None:
    table, fitted = breast_cancer
    pipeline = assemble(
        fitted.preprocessor_, DummyClassifier().fit(fitted.transformed["train"], fitted.target["train"])
    )
    cost = serving_cost(pipeline, fitted.inputs, model_input_frame(table.take(fitted.split["valid"]), fitted.inputs))
    assert set(cost) == {"onnx_error"} and "DummyClassifier" in cost["onnx_error"]


def _trained(index: int, auc: float, cv: float | None = None) -> dict[str, Any]:
    folds = {"folds": 5, "mean": {"roc_auc": cv}, "sd": {"roc_auc": 0.01}} if cv is not None else None
    return {"index": index, "algorithm": "xgboost", "params": {}, "metrics": {"roc_auc": auc}, "cv": folds}


FAILED = {
    "index": 2,
    "algorithm": "random_forest",
    "params": {},
    "failed": {"error": "Runtime.OutOfMemory", "cause": "..."},
    "limit": "3008 MB of memory",
}


def test_why_each_candidate_lost() -> None:
    # GIVEN a winner that passed its gates, one that scored less and one that ran out of memory
    board = outcomes([_trained(0, 0.91), _trained(1, 0.95)], [FAILED], 1, "roc_auc", {"passed": True})
    # THEN the winner won, the others lost on their score beside its, and on the limit the failed one met
    assert board[1] == {"outcome": "won"}
    assert board[0] == {
        "outcome": "lost",
        "reason": "score",
        "detail": "roc_auc (validation) 0.91 vs the winner's 0.95; higher is better",
    }
    assert board[2] == {
        "outcome": "lost",
        "reason": "failed",
        "detail": "Runtime.OutOfMemory: it met 3008 MB of memory",
    }


def test_a_winner_stopped_by_its_gates_lost_on_the_gate_and_folds_decide_the_score() -> None:
    gate = GateDecision(passed=False, reasons=["roc_auc 0.80 under the floor 0.90"], checks=[]).to_dict()
    # GIVEN cross-validated candidates, where the winner (chosen on the folds' mean) failed its gates
    board = outcomes([_trained(0, 0.99, cv=0.90), _trained(1, 0.90, cv=0.93)], [], 1, "roc_auc", gate)
    # THEN it lost on the gate, and the other lost on the folds' mean the choice was made on
    assert board[1]["reason"] == "gate" and "roc_auc 0.80 under the floor 0.90" in board[1]["detail"]
    assert board[0]["detail"] == "roc_auc (mean over 5 folds) 0.9 vs the winner's 0.93; higher is better"


def test_the_card_shows_each_candidates_cost_and_result() -> None:
    # GIVEN an evaluated run's candidates with their serving costs and results
    won = {**_trained(1, 0.95), "fit_seconds": 1.5, "onnx_bytes": 65432, "predict_ms_per_1000": 2.25, "outcome": "won"}
    detail = "roc_auc (validation) 0.91 vs the winner's 0.95; higher is better"
    lost = {**_trained(0, 0.91), "onnx_bytes": None, "onnx_error": "MissingShapeCalculator: ...", "outcome": "lost",
            "reason": "score", "detail": detail}  # fmt: skip
    failed = {
        **FAILED,
        "outcome": "lost",
        "reason": "failed",
        "detail": "Runtime.OutOfMemory: it met 3008 MB of memory",
    }
    card = build_model_card(
        model="m", version=1, task="classification", metric="roc_auc", test_metrics={"roc_auc": 0.94},
        validation_metrics={"roc_auc": 0.95}, candidates=[lost, won], failed_candidates=[failed],
        best={"index": 1, "algorithm": "xgboost", "params": {}}, fairness={}, importances=[], comparison=[],
        gate={"passed": True, "summary": "passed", "reasons": [], "checks": []}, lineage={}, artifacts={}, onnx={},
    )  # fmt: skip
    # WHEN it is rendered
    html = render_html(card)
    board = html[html.index("<h2>Candidates</h2>") : html.index("<h2>Lineage</h2>")]
    # THEN the leaderboard has the winner first with its times, bytes and result, then the loser, then the failure
    assert "<th>predict ms / 1,000 rows</th><th>ONNX bytes</th><th>result</th>" in board
    assert '<td class="n">1.5000</td><td class="n">2.2500</td><td class="n">65432</td><td>won</td>' in board
    assert "no ONNX: MissingShapeCalculator" in board and "lost (score): roc_auc (validation) 0.91" in board
    assert board.index(">won<") < board.index("lost (score)") < board.index("lost (failed): Runtime.OutOfMemory")
