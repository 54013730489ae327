"""``deployment.experiment``: how a split between production and a challenger is judged as an A/B experiment —
the goal metric computed from feedback, the effect worth detecting, the test's error rates, the guardrails the
challenger must not break, and the payoff of each (prediction, outcome) for a business-value goal."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from slipway.schema import Frozen

__all__ = ["EXPERIMENT_METRICS", "GUARDRAIL_METRICS", "ExperimentSpec", "GuardrailSpec"]

# Goal metrics: each is the mean of a per-row outcome of a labelled row. The task it needs, whether higher is
# better, and the outcome's kind (0/1 outcomes are compared by a two-proportion z-test, others by Welch's t).
EXPERIMENT_METRICS: dict[str, tuple[Literal["classification", "regression"], bool, Literal["binary", "continuous"]]] = {
    "accuracy": ("classification", True, "binary"),
    "log_loss": ("classification", False, "continuous"),
    "value": ("classification", True, "continuous"),  # the payoff of each (prediction, actual), per labelled row
    "mae": ("regression", False, "continuous"),
    "mse": ("regression", False, "continuous"),
}
# Guardrails: any goal metric, and the share of rows that failed (every served row, labelled or not).
GUARDRAIL_METRICS = (*EXPERIMENT_METRICS, "error_rate")


class GuardrailSpec(Frozen):
    """A metric the challenger must not make worse by more than ``max_drop`` (in the metric's units), judged
    at the 95 % level: breached when the whole interval of the challenger's worsening lies above ``max_drop``."""

    metric: str
    max_drop: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _known(self) -> GuardrailSpec:
        if self.metric not in GUARDRAIL_METRICS:
            raise ValueError(f"a guardrail's metric must be one of {', '.join(GUARDRAIL_METRICS)}, not {self.metric!r}")
        return self


class ExperimentSpec(Frozen):
    """The goal ``metric`` (default: accuracy for classification, mae for regression), the minimum detectable
    effect ``mde`` the sample size is planned for (absolute, in the metric's units; default 0.02 for accuracy,
    else 5 % of the champion's value), the test's ``alpha`` and ``power``, the labelled rows each variant needs
    before any verdict (``min_samples``), the ``guardrails`` (the error rate is always one), and for the
    ``value`` metric the ``payoff`` of each prediction (outer key) given the actual label (inner key)."""

    metric: str | None = None
    mde: float | None = Field(default=None, gt=0)
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    power: float = Field(default=0.8, ge=0.5, lt=1)
    min_samples: int = Field(default=100, ge=2)
    srm_alpha: float = Field(default=0.001, gt=0, lt=0.5)
    guardrails: tuple[GuardrailSpec, ...] = ()
    payoff: dict[str, dict[str, float]] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentSpec:
        if self.metric is not None and self.metric not in EXPERIMENT_METRICS:
            raise ValueError(
                f"the experiment's metric must be one of {', '.join(EXPERIMENT_METRICS)}, not {self.metric!r}"
            )
        wants_payoff = self.metric == "value" or any(g.metric == "value" for g in self.guardrails)
        if wants_payoff and not self.payoff:
            raise ValueError("the value metric needs a payoff: {predicted label: {actual label: value}}")
        return self

    def goal(self, task: str) -> str:
        """The goal metric for a model of ``task``."""
        return self.metric or ("accuracy" if task == "classification" else "mae")

    def metrics_outside(self, task: str) -> list[str]:
        """Named metrics (goal and guardrails) a ``task`` model does not have."""
        named = [self.metric, *(g.metric for g in self.guardrails)]
        return [m for m in named if m is not None and m in EXPERIMENT_METRICS and EXPERIMENT_METRICS[m][0] != task]
