"""The statistics of an A/B experiment, champion (production) against challenger: each variant's outcome with a
95 % interval, the difference with its interval and the p-value of a test that fits the outcome (a two-proportion
z-test for 0/1 outcomes, Welch's t-test for continuous ones), a sample-ratio-mismatch check (χ² of the assigned
units against the configured split), the minimum detectable effect at the current sample and the samples still
needed for the planned one, the guardrails, and a verdict. numpy and scipy only.

The verdict is read whenever someone looks, so it is called on an always-valid p-value (the mixture sequential
probability ratio test of Johari et al., "Always valid inference", 2017, as Optimizely's and Eppo's sequential
tests): however often the report is opened, a challenger no better than the champion is called better at most
``alpha`` of the time. The fixed-sample test's p-value and interval are shown beside it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from scipy import stats

from slipway.spec.experiment import EXPERIMENT_METRICS, ExperimentSpec

__all__ = [
    "Analysis",
    "Arm",
    "Comparison",
    "GuardrailResult",
    "SampleRatio",
    "VariantData",
    "analyse",
    "compare",
    "row_outcomes",
    "sample_ratio",
]

type Outcome = Literal["binary", "continuous"]
type VerdictName = Literal["keep running", "challenger better", "champion better", "stop: SRM"]
TESTS: dict[Outcome, str] = {"binary": "two-proportion z-test", "continuous": "Welch's t-test"}


def row_outcomes(
    metric: str,
    truth: np.ndarray,
    predicted: np.ndarray,
    p_true: np.ndarray | None = None,
    payoff: np.ndarray | None = None,
) -> np.ndarray:
    """Each labelled row's outcome, whose mean is ``metric``: 1/0 for a right/wrong label (accuracy), the negative
    log of the true class's probability (log_loss), the absolute or squared error (mae, mse), or the payoff of
    (predicted, actual) from the matrix ``payoff[predicted code, true code]`` (value). Elementwise: any shape."""
    if metric == "accuracy":
        return np.asarray(truth == predicted, dtype=np.float64)
    if metric == "log_loss":
        assert p_true is not None, "log_loss needs the true class's probability"
        return np.asarray(-np.log(np.clip(p_true, 1e-15, 1.0)))
    if metric == "value":
        assert payoff is not None, "the value metric needs a payoff matrix"
        return np.asarray(payoff[predicted.astype(np.int64), truth.astype(np.int64)], dtype=np.float64)
    error = np.asarray(predicted, dtype=np.float64) - np.asarray(truth, dtype=np.float64)
    if metric == "mae":
        return np.abs(error)
    if metric in ("mse", "rmse"):  # rmse: the root of these squares' mean
        return np.asarray(error**2)
    raise ValueError(f"no per-row outcome for the metric {metric!r}")


@dataclass(frozen=True)
class VariantData:
    """What one variant served in the experiment: rows (failed ones included), requests, assigned units (distinct
    entity ids, else request ids: what routing hashes), failed rows, and each labelled row's outcome per metric."""

    variant: str
    version: int
    rows: int
    requests: int
    units: int
    errors: int
    outcomes: Mapping[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class Arm:
    variant: str
    version: int
    rows: int
    requests: int
    units: int
    errors: int
    labelled: int
    value: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Comparison:
    """Challenger minus champion on one metric: the difference, its interval, the test and its p-value, the smallest
    difference the current sample detects with the planned power, and the labelled rows (both variants) that the
    planned ``mde`` needs in all and still needs."""

    metric: str
    test: str
    difference: float | None
    low: float | None
    high: float | None
    p_value: float | None
    always_valid_p: float | None  # the mixture SPRT's: what the verdict is called on
    sequential_low: float | None  # the always-valid (confidence sequence) interval of the difference
    sequential_high: float | None
    mde_now: float | None
    mde: float | None
    needed: int | None
    still_needed: int | None


@dataclass(frozen=True)
class SampleRatio:
    """χ² goodness of fit of the units each variant got against the configured split."""

    champion: int
    challenger: int
    expected_share: float
    observed_share: float | None
    chi2: float | None
    p_value: float | None
    flagged: bool


@dataclass(frozen=True)
class GuardrailResult:
    metric: str
    max_drop: float
    champion: float | None
    challenger: float | None
    worsening: float | None  # how much worse the challenger is (in the metric's units; negative: better)
    low: float | None
    high: float | None
    breached: bool
    message: str


@dataclass(frozen=True)
class Analysis:
    metric: str
    higher_is_better: bool
    alpha: float
    power: float
    weight: float
    arms: tuple[Arm, Arm]  # champion, challenger
    comparison: Comparison
    srm: SampleRatio
    guardrails: tuple[GuardrailResult, ...]
    verdict: VerdictName
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _arm_interval(values: np.ndarray, kind: Outcome, level: float) -> tuple[float | None, float | None]:
    n = values.size
    if n == 0:
        return None, None
    if kind == "binary":
        interval = stats.binomtest(int(values.sum()), n).proportion_ci(level, method="wilson")
        return float(interval.low), float(interval.high)
    if n < 2:
        return None, None
    low, high = stats.t.interval(level, n - 1, loc=float(values.mean()), scale=float(stats.sem(values)))
    return _finite(low), _finite(high)


def _arm(data: VariantData, metric: str, kind: Outcome, level: float) -> Arm:
    values = np.asarray(data.outcomes.get(metric, np.zeros(0)), dtype=np.float64)
    low, high = _arm_interval(values, kind, level)
    value = float(values.mean()) if values.size else None
    return Arm(
        data.variant, data.version, data.rows, data.requests, data.units, data.errors, values.size, value, low, high
    )


def compare(
    champion: np.ndarray,
    challenger: np.ndarray,
    kind: Outcome,
    *,
    metric: str = "",
    alpha: float = 0.05,
    power: float = 0.8,
    weight: float = 0.5,
    mde: float | None = None,
) -> Comparison:
    """Challenger minus champion: a two-proportion z-test (pooled standard error for the p-value, unpooled for the
    interval) for 0/1 outcomes, Welch's t-test for continuous ones; MDE and sample size by the normal approximation
    for a two-sided test at ``alpha`` with ``power``, the challenger getting ``weight`` of the units."""
    a, b = np.asarray(champion, dtype=np.float64), np.asarray(challenger, dtype=np.float64)
    n1, n2 = a.size, b.size
    none = Comparison(metric, TESTS[kind], None, None, None, None, None, None, None, None, mde, None, None)
    if n1 < 2 or n2 < 2:
        return none
    z_alpha, z_power = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
    m1, m2 = float(a.mean()), float(b.mean())
    difference = m2 - m1
    if kind == "binary":
        pooled = (a.sum() + b.sum()) / (n1 + n2)
        unit_variance = pooled * (1 - pooled)
        se_pooled = math.sqrt(unit_variance * (1 / n1 + 1 / n2))
        se = math.sqrt(m1 * (1 - m1) / n1 + m2 * (1 - m2) / n2)
        p_value = float(2 * stats.norm.sf(abs(difference) / se_pooled)) if se_pooled > 0 else 1.0
        low, high = difference - z_alpha * se, difference + z_alpha * se
        se_plan = se_pooled
    else:
        v1, v2 = float(a.var(ddof=1)), float(b.var(ddof=1))
        unit_variance = ((n1 - 1) * v1 + (n2 - 1) * v2) / (n1 + n2 - 2)
        se_plan = math.sqrt(v1 / n1 + v2 / n2)
        if se_plan > 0:
            result = stats.ttest_ind(b, a, equal_var=False)
            interval = result.confidence_interval(1 - alpha)
            p_value, low, high = float(result.pvalue), float(interval.low), float(interval.high)
        else:  # both constant: the difference is exact
            p_value, low, high = (1.0 if difference == 0 else 0.0), difference, difference
    mde_now = (z_alpha + z_power) * se_plan
    tau = mde if mde is not None else mde_now  # the mixture's scale: effects of the size the experiment is planned for
    always_valid, seq_low, seq_high = _sequential(difference, se_plan**2, tau**2, alpha)
    needed = still = None
    if mde is not None and unit_variance > 0:
        w = min(max(weight, 1e-6), 1 - 1e-6)
        needed = math.ceil((z_alpha + z_power) ** 2 * unit_variance * (1 / w + 1 / (1 - w)) / mde**2)
        still = max(0, needed - (n1 + n2))
    elif mde is not None:
        needed, still = n1 + n2, 0
    return Comparison(
        metric,
        TESTS[kind],
        difference,
        _finite(low),
        _finite(high),
        p_value,
        always_valid,
        _finite(seq_low),
        _finite(seq_high),
        _finite(mde_now),
        mde,
        needed,
        still,
    )


def _sequential(difference: float, variance: float, tau2: float, alpha: float) -> tuple[float | None, float, float]:
    """The mixture SPRT of a difference of means with estimated ``variance``, normal mixture of variance ``tau2``:
    its always-valid p-value (1 / the likelihood ratio, capped at 1) and the matching confidence sequence."""
    if variance <= 0 or tau2 <= 0:
        return None, difference, difference
    log_ratio = 0.5 * math.log(variance / (variance + tau2)) + tau2 * difference**2 / (2 * variance * (variance + tau2))
    p_value = min(1.0, math.exp(-log_ratio))
    half = math.sqrt(
        variance * (variance + tau2) / tau2 * (2 * math.log(1 / alpha) + math.log((variance + tau2) / variance))
    )
    return p_value, difference - half, difference + half


def sample_ratio(champion_units: int, challenger_units: int, weight: float, alpha: float = 0.001) -> SampleRatio:
    """χ² test (one degree of freedom) of the units each variant got against the split ``1 - weight : weight``;
    flagged below ``alpha`` (0.001, as is usual: a real mismatch shows at that level, chance rarely does)."""
    total = champion_units + challenger_units
    if total == 0 or not 0 < weight < 1:
        return SampleRatio(champion_units, challenger_units, weight, None, None, None, False)
    result = stats.chisquare([champion_units, challenger_units], f_exp=[total * (1 - weight), total * weight])
    p_value = float(result.pvalue)
    return SampleRatio(
        champion_units,
        challenger_units,
        weight,
        challenger_units / total,
        float(result.statistic),
        p_value,
        p_value < alpha,
    )


def _guardrail(
    name: str, max_drop: float, champion: np.ndarray, challenger: np.ndarray, alpha: float
) -> GuardrailResult:
    if name == "error_rate":
        kind: Outcome = "binary"
        higher = False
    else:
        _, higher, kind = EXPERIMENT_METRICS[name]
    found = compare(champion, challenger, kind, metric=name, alpha=alpha)
    m1 = float(champion.mean()) if champion.size else None
    m2 = float(challenger.mean()) if challenger.size else None
    if found.difference is None or found.low is None or found.high is None:
        return GuardrailResult(name, max_drop, m1, m2, None, None, None, False, f"{name}: too few rows to judge")
    sign = -1.0 if higher else 1.0  # worsening = challenger minus champion in the bad direction
    worsening = sign * found.difference
    # the always-valid interval where there is one: a guardrail, too, is read at every look
    bounds = (
        (found.sequential_low, found.sequential_high) if found.always_valid_p is not None else (found.low, found.high)
    )
    low, high = sorted((sign * (bounds[0] or 0.0), sign * (bounds[1] or 0.0)))
    breached = low > max_drop
    message = (
        f"{name} {m2:.4g} vs the champion's {m1:.4g}: worse by {worsening:.4g} "
        f"(always-valid {1 - alpha:.0%} interval {low:.4g} to {high:.4g}), "
        + (f"breached: surely worse than the allowed {max_drop:g}" if breached else f"within the allowed {max_drop:g}")
    )
    return GuardrailResult(name, max_drop, m1, m2, worsening, low, high, breached, message)


def _errors(data: VariantData) -> np.ndarray:
    return np.concatenate([np.ones(data.errors), np.zeros(max(data.rows - data.errors, 0))])


def _planned_mde(spec: ExperimentSpec, metric: str, champion: np.ndarray) -> float | None:
    if spec.mde is not None:
        return spec.mde
    if metric == "accuracy":
        return 0.02
    return 0.05 * abs(float(champion.mean())) if champion.size and champion.mean() != 0 else None


def analyse(
    champion: VariantData, challenger: VariantData, weight: float, spec: ExperimentSpec, metric: str
) -> Analysis:
    """The experiment's statistics and verdict: ``stop: SRM`` when the units are off the configured split, else
    ``champion better`` when a guardrail is breached, else the goal's test at ``spec.alpha`` once each variant has
    ``spec.min_samples`` labelled rows, else ``keep running``."""
    _, higher, kind = EXPERIMENT_METRICS[metric]
    level = 1 - spec.alpha
    a = np.asarray(champion.outcomes.get(metric, np.zeros(0)), dtype=np.float64)
    b = np.asarray(challenger.outcomes.get(metric, np.zeros(0)), dtype=np.float64)
    comparison = compare(
        a, b, kind, metric=metric, alpha=spec.alpha, power=spec.power, weight=weight, mde=_planned_mde(spec, metric, a)
    )
    srm = sample_ratio(champion.units, challenger.units, weight, spec.srm_alpha)
    guardrails = [_guardrail("error_rate", 0.0, _errors(champion), _errors(challenger), spec.alpha)]
    for g in spec.guardrails:
        if g.metric == "error_rate":
            guardrails[0] = _guardrail("error_rate", g.max_drop, _errors(champion), _errors(challenger), spec.alpha)
        else:
            empty = np.zeros(0)
            guardrails.append(
                _guardrail(
                    g.metric,
                    g.max_drop,
                    np.asarray(champion.outcomes.get(g.metric, empty)),
                    np.asarray(challenger.outcomes.get(g.metric, empty)),
                    spec.alpha,
                )
            )
    verdict, reasons = _verdict(comparison, srm, guardrails, a.size, b.size, spec, higher)
    arms = (_arm(champion, metric, kind, level), _arm(challenger, metric, kind, level))
    return Analysis(
        metric,
        higher,
        spec.alpha,
        spec.power,
        weight,
        arms,
        comparison,
        srm,
        tuple(guardrails),
        verdict,
        tuple(reasons),
    )


def _verdict(
    comparison: Comparison,
    srm: SampleRatio,
    guardrails: Sequence[GuardrailResult],
    n_champion: int,
    n_challenger: int,
    spec: ExperimentSpec,
    higher: bool,
) -> tuple[VerdictName, list[str]]:
    if srm.flagged:
        return "stop: SRM", [
            f"sample ratio mismatch: the challenger got {srm.observed_share:.2%} of {srm.champion + srm.challenger:,} "
            f"units against the configured {srm.expected_share:.2%} (χ² p = {srm.p_value:.2g} < {spec.srm_alpha:g}); "
            "assignment or capture is broken, so no outcome can be trusted"
        ]
    breached = [g.message for g in guardrails if g.breached]
    if breached:
        return "champion better", [f"guardrail {m}" for m in breached]
    if min(n_champion, n_challenger) < spec.min_samples:
        return "keep running", [
            f"{n_challenger:,} challenger and {n_champion:,} champion rows have feedback; "
            f"{spec.min_samples} each are needed for a verdict"
        ]
    c = comparison
    if c.p_value is None or c.difference is None or c.always_valid_p is None:
        return "keep running", ["the outcomes cannot be compared yet"]
    interval = f"{c.difference:+.4g} ({1 - spec.alpha:.0%} interval {c.low:+.4g} to {c.high:+.4g}, {c.test} p = "
    interval += f"{c.p_value:.2g}; always-valid p = {c.always_valid_p:.2g})"
    if c.always_valid_p < spec.alpha and c.difference != 0:
        better: VerdictName = "challenger better" if (c.difference > 0) == higher else "champion better"
        return better, [f"{c.metric} difference {interval} is significant at {spec.alpha:g}"]
    reason = f"{c.metric} difference {interval} is not significant at {spec.alpha:g}"
    if c.still_needed:
        reason += (
            f"; {c.still_needed:,} more labelled rows are needed to detect {c.mde:.4g} with {spec.power:.0%} power"
        )
    elif c.mde is not None:
        reason += f"; the planned sample for {c.mde:.4g} is reached: no effect that large is there"
    return "keep running", [reason]
