"""The deployment section of the model spec: how a version is promoted into staging and prod — its
canary share of live traffic, how long it bakes, what rolls it back, and who must approve it."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator

from slipway.schema import Frozen
from slipway.spec.experiment import ExperimentSpec

__all__ = [
    "ONLINE_METRICS",
    "ApprovalSpec",
    "DeploymentSpec",
    "OnlineMetricSpec",
    "RollbackSpec",
    "Seconds",
    "parse_duration",
]

MAX_SECONDS = 365 * 24 * 3600  # Step Functions: a Wait and a task token both last at most a year
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")

# Online metrics computed from feedback joined to captures, per task, and whether higher is better.
ONLINE_METRICS: dict[str, tuple[Literal["classification", "regression"], bool]] = {
    "accuracy": ("classification", True),
    "mae": ("regression", False),
    "rmse": ("regression", False),
}
PromotionTarget = Literal["staging", "prod"]


def parse_duration(value: object) -> int:
    """Seconds from ``90``, ``"90s"``, ``"15m"``, ``"2h"`` or ``"1d"``; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 90, '90s', '15m', '2h' or '1d', got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return int(match.group(1)) * _UNITS[match.group(2) or "s"]
    raise ValueError(f"expected a duration like 90, '90s', '15m', '2h' or '1d', got {value!r}")


type Seconds = Annotated[int, BeforeValidator(parse_duration), Field(ge=1, le=MAX_SECONDS)]


class OnlineMetricSpec(Frozen):
    """A metric measured on live traffic from feedback (ground truth joined to the captured predictions
    by request id and row): the challenger may be worse than the champion by at most ``max_drop``. With
    fewer than ``min_samples`` labelled rows on either side in the bake window it is not judged."""

    metric: str
    max_drop: float = Field(default=0.0, ge=0)
    min_samples: int = Field(default=100, ge=1)

    @model_validator(mode="after")
    def _known(self) -> OnlineMetricSpec:
        if self.metric not in ONLINE_METRICS:
            raise ValueError(f"online metric must be one of {', '.join(ONLINE_METRICS)}, not {self.metric!r}")
        return self

    @property
    def task(self) -> str:
        return ONLINE_METRICS[self.metric][0]

    @property
    def higher_is_better(self) -> bool:
        return ONLINE_METRICS[self.metric][1]


class RollbackSpec(Frozen):
    """What makes a canary unhealthy over its bake window, challenger against champion. Each ceiling
    may be set to null to not check it."""

    max_error_rate: float | None = Field(default=0.01, ge=0, le=1)  # failed rows / rows served
    max_p99_latency_ms: float | None = Field(default=250.0, gt=0)  # the challenger's own time per request
    # Population stability index of the challenger's scores against the champion's on the same window's
    # traffic (routing splits one population at random, so two models that agree score alike).
    max_prediction_shift: float | None = Field(default=0.25, gt=0)
    online_metric: OnlineMetricSpec | None = None


class ApprovalSpec(Frozen):
    """Whether a person must approve a promotion into each environment (in dev: a retraining's release in
    place, under the retrain-and-promote policy), and how long the promotion waits for the answer (no answer
    by then: rejected)."""

    dev: bool = False
    staging: bool = False
    prod: bool = True
    timeout: Seconds = 86400

    def required_for(self, env: str) -> bool:
        if env not in ("dev", "staging", "prod"):
            raise ValueError(f"promotions go into dev (a release in place), staging or prod, not {env!r}")
        return bool(getattr(self, env))


class DeploymentSpec(Frozen):
    """``deployment``: the canary (share of live traffic, bake time, the least traffic that gives a verdict),
    the rollback criteria, the approvals, and how the split is judged as an experiment."""

    canary_share: float = Field(default=0.1, gt=0, lt=1)
    bake: Seconds = 600
    min_canary_rows: int = Field(default=100, ge=1)  # challenger rows needed in the window for a verdict
    rollback: RollbackSpec = Field(default_factory=RollbackSpec)
    approval: ApprovalSpec = Field(default_factory=ApprovalSpec)
    experiment: ExperimentSpec = Field(default_factory=ExperimentSpec)  # the split judged as an A/B experiment
