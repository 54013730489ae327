"""A decision threshold for an imbalanced binary target (scikit-learn's handwritten digits: "is it a 9?", 10 % of
1,797 rows), tuned on the validation split for the spec's f1: stored with the version, shown on its card, applied
by serving, counted in the test metrics, and chosen again by `slipway reproduce`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from slipway import layout
from slipway.domain.decision import decide
from slipway.domain.training import tune_threshold
from slipway.objects import S3Object
from slipway.ports import Deps
from slipway.serving.service import InferenceService
from slipway.steps.training.reproduce import reproduce
from slipway.stores.registry import ModelRegistry
from slipway.stores.specs import push_spec
from tests.fakes import fake_deps
from tests.unit.steps.support import PIXELS, Run, digits_frame, digits_spec, run_pipeline

TRAINING = """  task: classification
  metric: f1
  seed: 7
  split: {method: random, seed: 7, valid: 0.25, test: 0.25}
  threshold: tune
  candidates:
    - algorithm: logistic_regression
      grid: {C: [0.01]}
"""


def _digits() -> pd.DataFrame:
    return digits_frame("is_nine", lambda digit: int(digit == 9))


@pytest.fixture(scope="module")
def tuned() -> tuple[Deps, Run]:
    with threadpool_limits(limits=1):
        deps = fake_deps()
        push_spec(deps, digits_spec("nines", "is_nine", [0, 1], TRAINING))
        body = _digits().to_csv(index=False).encode()
        return deps, run_pipeline(deps, "run-1", "nines/digits.csv", body, until="register")


def test_the_tuned_threshold_is_stored_shown_and_served(tuned: tuple[Deps, Run]) -> None:
    # GIVEN the spec's threshold: tune, trained and registered on the digits
    deps, run = tuned
    assert run.registered is not None
    registry = ModelRegistry.of(deps)
    item = registry.get_version("nines", run.registered.version)

    # THEN the version records a threshold other than the most-probable-label rule, tuned for f1
    threshold = float(item["threshold"])
    assert 0 < threshold < 1 and threshold != 0.5
    card = deps.store.get_bytes(S3Object.parse(item["artifacts"][layout.MODEL_CARD_HTML]["uri"]))
    assert f"P(1) ≥ {threshold:.4f}: tuned on the validation split for f1" in card.decode()

    # AND serving predicts 9 exactly where P(9) reaches it (rows near the threshold included)
    registry.set_alias("nines", "production", run.registered.version, actor="test", reason="serve")
    service = InferenceService(deps, alias_ttl_s=0)
    rows = [{p: float(v) for p, v in zip(PIXELS, r, strict=True)} for r in _digits()[PIXELS].to_numpy()[:400]]
    answer = service.predict("nines", rows, "req").body
    positive = np.array([p["1"] for p in answer["probabilities"]])
    assert answer["predictions"] == [int(p >= threshold) for p in positive]
    assert any(threshold <= p < 0.5 for p in positive) or any(0.5 <= p < threshold for p in positive), (
        "no row falls between the threshold and 0.5: the test would not tell them apart"
    )
    # AND the test metrics count labels as served: the recorded f1 is the thresholded one
    assert run.evaluated.threshold == threshold


def test_reproduce_chooses_the_same_threshold_and_metrics(tuned: tuple[Deps, Run]) -> None:
    deps, run = tuned
    assert run.registered is not None
    item = ModelRegistry.of(deps).get_version("nines", run.registered.version)
    with threadpool_limits(limits=1):
        result = reproduce(deps, item)
    rows = {r["metric"]: r for r in result["metrics"]}
    assert rows["threshold"]["reproduced"] == pytest.approx(float(item["threshold"]), abs=0)
    assert result["status"] == "identical", result


def test_tuning_maximises_the_metric_on_the_rows_it_is_given() -> None:
    # GIVEN probabilities where 0.5 misses most positives
    truth = np.array([0] * 80 + [1] * 20)
    p = np.concatenate([np.linspace(0.0, 0.3, 80), np.linspace(0.25, 0.6, 20)])
    probabilities = np.column_stack([1 - p, p])

    # WHEN a threshold is tuned for f1 THEN it predicts more positives and scores a higher f1 than 0.5 does
    threshold, metric = tune_threshold(truth, probabilities, 1, "roc_auc")
    assert metric == "f1" and threshold is not None and threshold < 0.5

    def f1(chosen: np.ndarray) -> float:
        tp = int(((chosen == 1) & (truth == 1)).sum())
        return 2 * tp / (int((chosen == 1).sum()) + int((truth == 1).sum()))

    assert f1(decide(probabilities, 1, threshold)) > f1(decide(probabilities, 1, 0.5))
    # AND a threshold applies to two classes only; more classes keep the most probable label
    three = np.array([[0.2, 0.5, 0.3]])
    assert decide(three, 1, 0.9).tolist() == [1]
    assert tune_threshold(np.array([0]), three, 1, "accuracy")[0] is None
