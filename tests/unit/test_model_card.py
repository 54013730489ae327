"""The model card: JSON-able record, and one self-contained HTML page that shows the numbers and escapes input."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from slipway.domain.evaluation import GateDecision
from slipway.domain.model_card import CARD_SCHEMA, build_model_card, render_html

EVIL = "<script>alert('x')</script>"
SHA = "ab" * 32


def _card(**overrides: Any) -> dict[str, Any]:
    gate = GateDecision(
        passed=False,
        reasons=["roc_auc regressed 0.031 vs champion v3 (max 0.020)"],
        checks=[{"gate": "max_regression", "metric": "roc_auc", "value": 0.031, "bound": 0.02, "passed": False}],
    )
    args: dict[str, Any] = {
        "model": "churn",
        "version": 4,
        "task": "classification",
        "metric": "roc_auc",
        "test_metrics": {
            "roc_auc": np.float64(0.8123),
            "accuracy": 0.7651,
            "log_loss": float("nan"),
            "confusion_matrix": np.array([[50, 7], [9, 34]]),
            "positive_rate": 0.41,
        },
        "validation_metrics": {"roc_auc": 0.8201, "accuracy": 0.77},
        "candidates": [
            {"index": 0, "algorithm": "logistic_regression", "params": {"C": 1.0}, "metrics": {"roc_auc": 0.79}},
            {"index": 1, "algorithm": "random_forest", "params": {"max_depth": EVIL}, "metrics": {"roc_auc": 0.8201}},
        ],
        "best": {"index": 1, "algorithm": "random_forest", "params": {"max_depth": EVIL}},
        "fairness": {
            "gender": {
                "demographic_parity_difference": 0.12,
                "equal_opportunity_difference": None,
                "groups": {"female": {"n": 40, "positive_rate": 0.35, "tpr": 0.7}, EVIL: {"n": 3}},
            }
        },
        "importances": [
            {"feature": "tenure_months", "importance": 0.2, "std": 0.01},
            {"feature": "support_calls", "importance": 0.05, "std": 0.02},
        ],
        "comparison": [
            {"metric": "roc_auc", "champion": 0.843, "challenger": 0.8123, "delta": -0.0307, "better": "champion"}
        ],
        "gate": gate,
        "lineage": {
            "run": "run-42",
            "raw_objects": ["s3://raw/churn/2026-11-25.parquet", EVIL],
            "dataset_version": "d" * 64,
            "code_version": "git:abc123",
        },
        "artifacts": {"model.onnx": {"sha256": SHA, "uri": "s3://artifacts/churn/model.onnx"}, "model.skops": SHA},
        "onnx": {"opset": 17, "max_abs_diff": 1.2e-7},
    }
    args.update(overrides)
    return build_model_card(**args)


def test_card_is_plain_json_with_the_gate_decision() -> None:
    # GIVEN numpy values, a NaN and a GateDecision object WHEN the card is built
    card = _card()
    # THEN it serialises as strict JSON, numpy unwrapped, NaN as null, the gate with its summary
    text = json.dumps(card, allow_nan=False)
    assert card["schema"] == CARD_SCHEMA
    assert card["test_metrics"]["roc_auc"] == 0.8123 and card["test_metrics"]["log_loss"] is None
    assert card["test_metrics"]["confusion_matrix"] == [[50, 7], [9, 34]]
    assert card["gate"]["summary"].startswith("failed 1 of 1 gates: roc_auc regressed 0.031")
    assert json.loads(text) == card


def test_html_shows_the_numbers_a_reviewer_checks() -> None:
    # GIVEN a card WHEN rendered
    html = render_html(_card())
    # THEN title, metrics, confusion matrix, fairness, importances, leaderboard, comparison, gate, lineage, hashes
    assert "<title>Model card: churn v4</title>" in html
    assert re.search(r"★ roc_auc</td><td class=\"n\">0\.8123</td><td class=\"n\">0\.8201</td>", html)
    assert '<td>actual 1</td><td class="n">9</td><td class="n">34</td>' in html
    assert '<td>female</td><td class="n">40</td><td class="n">0.3500</td><td class="n">0.7000</td>' in html
    assert "demographic parity difference 0.1200, equal opportunity difference —" in html
    assert 'style="width:100.0%"' in html and 'style="width:25.0%"' in html
    assert '<tr class="best"><td class="n">1</td><td>random_forest</td>' in html
    assert '<td>roc_auc</td><td class="n">0.8430</td><td class="n">0.8123</td><td class="n">-0.0307</td>' in html
    assert "FAILED" in html and "<li>roc_auc regressed 0.031 vs champion v3 (max 0.020)</li>" in html
    assert html.index("Raw objects") < html.index("Dataset version") < html.index("Run") < html.index("Code version")
    assert html.count(SHA) == 2 and "s3://raw/churn/2026-11-25.parquet" in html
    assert '<td>opset</td><td class="n">17</td>' in html and '<td class="n">1.2e-07</td>' in html


def test_html_escapes_untrusted_values_and_loads_nothing_external() -> None:
    # GIVEN a script tag in a hyperparameter, a group name and a raw object key WHEN rendered
    html = render_html(_card(model=EVIL))
    # THEN no tag survives, it appears escaped, and the page references no outside asset
    assert "<script" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert not re.search(r"https?://|<link|<img|src=", html)


def test_first_version_and_regression_card_render() -> None:
    # GIVEN a regression model without champion, importances or fairness WHEN rendered
    card = _card(
        task="regression",
        metric="rmse",
        test_metrics={"rmse": 3.5, "mae": 2.0, "r2": 0.91},
        validation_metrics={"rmse": 3.4},
        candidates=[
            {"index": 0, "algorithm": "linear_regression", "params": {}, "metrics": {"rmse": 4.0}},
            {"index": 1, "algorithm": "random_forest", "params": {"max_depth": 4}, "metrics": {"rmse": 3.4}},
        ],
        best={"index": 1, "algorithm": "random_forest", "params": {"max_depth": 4}},
        fairness={},
        importances=[],
        comparison=[],
        gate=GateDecision(passed=True, reasons=[], checks=[]).to_dict(),
    )
    html = render_html(card)
    # THEN the page says so instead of showing empty tables, and the lowest rmse leads the leaderboard
    assert "No champion: this is the first version." in html and "No sensitive attribute declared." in html
    assert "Confusion matrix" not in html and "PASSED" in html
    assert html.index("random_forest</td><td>max_depth=4") < html.index("linear_regression</td><td>(defaults)")
