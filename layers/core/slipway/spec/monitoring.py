"""The monitoring section of the model spec: when the drift check runs, over which window of live traffic,
which tests judge each feature and with what thresholds, how little data gives no verdict, and what a drift
starts (nothing, a retraining, or a retraining whose result is promoted)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from slipway.schema import Frozen
from slipway.spec.deployment import Seconds

__all__ = ["PERFORMANCE_METRICS", "DriftTests", "MonitoringSpec", "PerformanceSpec", "RetrainingSpec"]

# EventBridge schedule expressions: rate(1 day), rate(6 hours), cron(0 6 * * ? *).
_SCHEDULE = re.compile(r"^(rate\(\s*[1-9]\d*\s+(minute|minutes|hour|hours|day|days)\s*\)|cron\([^()]+\))$")
_RATE_VALUE = re.compile(r"^rate\(\s*(\d+)\s+(\w+)\s*\)$")
Correction = Literal["bh", "bonferroni", "none"]
RetrainingPolicy = Literal["none", "retrain", "retrain-and-promote"]
Environment = Literal["dev", "staging", "prod"]

# Metrics the drift check bootstraps on labelled traffic: the task each needs, and whether higher is better.
PERFORMANCE_METRICS: dict[str, tuple[str, bool]] = {
    "accuracy": ("classification", True),
    "roc_auc": ("classification", True),
    "log_loss": ("classification", False),
    "f1": ("classification", True),
    "precision": ("classification", True),
    "recall": ("classification", True),
    "rmse": ("regression", False),
    "mae": ("regression", False),
    "r2": ("regression", True),
}


class DriftTests(Frozen):
    """How each feature is judged. At ``large_sample`` rows or more, by distance against a threshold: numeric
    columns by the population stability index on the reference's decile bins, categorical ones by the
    Jensen–Shannon distance (base 2, 0..1) over the reference's categories. Below it, by a test: numeric columns
    by Kolmogorov–Smirnov on the reference's decile edges, categorical ones by chi-squared, each p-value
    corrected for the number of columns tested (``correction``) and compared with ``alpha``."""

    psi_threshold: float = Field(default=0.2, gt=0)
    js_threshold: float = Field(default=0.1, gt=0, le=1)
    alpha: float = Field(default=0.05, gt=0, lt=1)
    correction: Correction = "bh"
    large_sample: int = Field(default=1000, ge=2)


class PerformanceSpec(Frozen):
    """Performance drift, where feedback arrived: ``metric`` (default: the training metric when it is one of
    ``PERFORMANCE_METRICS``, else accuracy or rmse) on the labelled
    captured rows, with a bootstrap interval; drifted when the whole interval is worse than the version's
    registered test metric by more than ``max_drop``."""

    metric: str | None = None
    max_drop: float = Field(default=0.05, ge=0)
    min_samples: int = Field(default=100, ge=10)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    resamples: int = Field(default=1000, ge=100, le=20000)


class RetrainingSpec(Frozen):
    """What a drift starts: ``none``; ``retrain`` (train on the latest data: the curated uploads plus the labelled
    captures); ``retrain-and-promote`` (and promote the result when it passes the gates). At most one retraining
    per model per ``cooldown``, however many checks find drift."""

    policy: RetrainingPolicy = "none"
    cooldown: Seconds = 7 * 86400
    # Whose live traffic a retraining may learn from (the labelled captures of the environment where the drift was
    # found): production's only when the spec says so, as its rows are your customers' and leave prod for dev.
    captures_from: tuple[Environment, ...] = ("dev", "staging")


class MonitoringSpec(Frozen):
    """``monitoring``: the drift check's schedule (an EventBridge expression) and window, its tests, the least
    number of rows a feature needs for a verdict (``min_sample``; fewer: "insufficient data"), the share of
    judged features that must drift for the dataset to drift, and the retraining policy."""

    schedule: str = "rate(1 day)"
    window: Seconds = 86400
    min_sample: int = Field(default=100, ge=10)
    drift_share: float = Field(default=0.5, gt=0, le=1)
    tests: DriftTests = Field(default_factory=DriftTests)
    prediction_drift: bool = True
    performance: PerformanceSpec = Field(default_factory=PerformanceSpec)
    retraining: RetrainingSpec = Field(default_factory=RetrainingSpec)

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        if not _SCHEDULE.match(value.strip()):
            raise ValueError(
                f"expected an EventBridge schedule like 'rate(1 day)' or 'cron(0 6 * * ? *)', not {value!r}"
            )
        rate = _RATE_VALUE.match(value.strip())
        if rate and (rate.group(1) == "1") != (not rate.group(2).endswith("s")):
            raise ValueError(f"EventBridge wants 'rate(1 day)' (singular) and 'rate(2 days)' (plural), not {value!r}")
        return value.strip()
