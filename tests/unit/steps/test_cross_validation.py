"""Candidates compared by k-fold cross-validation on a small public table (scikit-learn's handwritten digits, 1,797
rows, 10 classes): every candidate's record carries its folds' mean ± sd, the winner is the best mean, the card's
leaderboard and `runs show` show it; `cv: none` and a large table keep the validation split."""

from __future__ import annotations

import pytest
from rich.console import Console
from threadpoolctl import threadpool_limits

from slipway import layout
from slipway.objects import S3Object
from slipway.ports import Deps
from slipway.spec.training import CV_AUTO_ROWS, TrainingSpec
from slipway.stores.registry import ModelRegistry
from slipway.stores.runs import candidates_of
from slipway.stores.specs import push_spec
from slipway_cli import commands
from tests.fakes import fake_deps
from tests.unit.steps.support import Run, digits_frame, digits_spec, run_pipeline


def _spec(cv: str) -> str:
    training = f"""  task: classification
  metric: accuracy
  seed: 7
  cv: {cv}
  candidates:
    - algorithm: logistic_regression
      grid: {{C: [0.0005, 0.1]}}
    - algorithm: random_forest
      grid: {{n_estimators: [20], max_depth: [3]}}
"""
    return digits_spec("digits", "digit", list(range(10)), training)


def _digits() -> bytes:
    return bytes(digits_frame("digit", lambda digit: digit).to_csv(index=False).encode())


def _train(cv: str) -> tuple[Deps, Run]:
    with threadpool_limits(limits=1):
        deps = fake_deps()
        push_spec(deps, _spec(cv))
        return deps, run_pipeline(deps, "run-1", "digits/sklearn.csv", _digits(), until="register")


@pytest.fixture(scope="module")
def folded() -> tuple[Deps, Run]:
    return _train("auto")


def test_a_small_table_is_cross_validated_and_the_best_mean_wins(folded: tuple[Deps, Run]) -> None:
    deps, run = folded
    records = {int(c["index"]): c for c in candidates_of(deps, run.run_id)}

    # THEN every candidate was scored on 5 folds of the training + validation rows, with a spread
    assert all(r["cv"]["folds"] == 5 for r in records.values())
    means = {i: float(r["cv"]["mean"]["accuracy"]) for i, r in records.items()}
    assert all(float(r["cv"]["sd"]["accuracy"]) > 0 for r in records.values())
    # AND the winner is the candidate with the best mean accuracy over the folds
    assert run.evaluated.best.index == max(means, key=lambda i: (means[i], -i))
    assert means[run.evaluated.best.index] > 0.9 > min(means.values())  # C=0.0005 underfits: the folds see it

    # AND `runs show` and the model card show the folds beside the validation split
    _, board = commands.runs_show(deps, run.run_id)
    console = Console(width=300, record=True)
    console.print(board)
    text = console.export_text()
    assert "accuracy, 5 folds" in text and f"{means[run.evaluated.best.index]:.4f} ±" in text
    item = ModelRegistry.of(deps).get_version("digits", run.registered.version if run.registered else 0)
    card = deps.store.get_bytes(S3Object.parse(item["artifacts"][layout.MODEL_CARD_HTML]["uri"])).decode()
    assert "accuracy over 5 folds (mean ± sd; chose the winner)" in card


def test_cv_none_keeps_the_validation_split() -> None:
    deps, run = _train("none")
    assert all("cv" not in c for c in candidates_of(deps, run.run_id))
    assert run.evaluated.best.cv is None


def test_auto_folds_only_small_tables() -> None:
    spec = TrainingSpec.model_validate(
        {"task": "regression", "metric": "rmse", "candidates": [{"algorithm": "linear_regression"}]}
    )
    assert spec.folds(CV_AUTO_ROWS) == 5 and spec.folds(CV_AUTO_ROWS + 1) is None
    assert spec.model_copy(update={"cv": 3}).folds(10**6) == 3
    with pytest.raises(ValueError, match="at least 2 folds"):
        TrainingSpec.model_validate({**spec.model_dump(), "cv": 1})
