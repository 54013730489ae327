"""Judging a canary from what it served in its bake window, challenger against champion: error rate, p99
latency, the shift of its scores (population stability index: routing splits one population at random,
so two models that agree score alike) and, when enough feedback arrived, an online metric. Pure Python:
the check reads thousands of captured rows, not millions."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from slipway.domain.stability import psi
from slipway.spec.deployment import DeploymentSpec, OnlineMetricSpec

__all__ = [
    "Check",
    "Served",
    "VariantStats",
    "Verdict",
    "judge",
    "p99",
    "prediction_shift",
    "served_rows",
    "variant_stats",
]


@dataclass(frozen=True)
class Served:
    """One captured row: a prediction, or an error (``error`` set, no prediction)."""

    variant: str
    version: int
    request_id: str
    row: int
    entity_id: Any
    prediction: Any
    score: float | None  # P(last class) for classification, the value for regression
    latency_ms: float | None
    error: str | None
    at: str
    probabilities: Mapping[str, float] | None = None  # every class's probability (classification)


def _score(record: Mapping[str, Any]) -> float | None:
    probabilities = record.get("probabilities")
    if isinstance(probabilities, Mapping) and probabilities:
        return float(list(probabilities.values())[-1])
    prediction = record.get("prediction")
    if isinstance(prediction, (int, float)) and not isinstance(prediction, bool):
        return float(prediction)
    return None


def _probabilities(record: Mapping[str, Any]) -> dict[str, float] | None:
    probabilities = record.get("probabilities")
    if isinstance(probabilities, Mapping) and probabilities:
        return {str(k): float(v) for k, v in probabilities.items()}
    return None


def _latency(record: Mapping[str, Any]) -> float | None:
    """The variant's own time for the row (its contract check and model call), else the request's."""
    value = record.get("model_ms")
    if value is None:
        value = record.get("latency_ms")
    return float(value) if value is not None else None


def served_rows(records: Iterable[Mapping[str, Any]], start: str, end: str) -> list[Served]:
    """Captured rows served in [start, end] (ISO times, UTC); other records and malformed ones are skipped."""
    rows = []
    for r in records:
        at = r.get("at")
        if not isinstance(at, str) or not start <= at <= end or r.get("kind", "captures") != "captures":
            continue
        try:
            rows.append(
                Served(
                    variant=str(r["variant"]),
                    version=int(r["version"]),
                    request_id=str(r.get("request_id")),
                    row=int(r.get("row", 0)),
                    entity_id=r.get("entity_id"),
                    prediction=r.get("prediction"),
                    score=None if r.get("error") else _score(r),
                    latency_ms=_latency(r),
                    error=str(r["error"]) if r.get("error") else None,
                    at=at,
                    probabilities=None if r.get("error") else _probabilities(r),
                )
            )
        except (KeyError, TypeError, ValueError):
            continue
    return rows


def p99(values: Sequence[float]) -> float | None:
    """Nearest-rank 99th percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def _same(prediction: Any, actual: Any) -> bool:
    return bool(prediction == actual or str(prediction) == str(actual))


def _online(metric: str, pairs: Sequence[tuple[Any, Any]]) -> float:
    if metric == "accuracy":
        return sum(_same(p, a) for p, a in pairs) / len(pairs)
    errors = [float(p) - float(a) for p, a in pairs]
    if metric == "mae":
        return sum(abs(e) for e in errors) / len(errors)
    if metric == "rmse":
        return math.sqrt(sum(e * e for e in errors) / len(errors))
    raise ValueError(f"unknown online metric {metric!r}")


@dataclass
class VariantStats:
    variant: str
    rows: int = 0  # rows served, failed ones included
    errors: int = 0
    requests: int = 0
    p99_latency_ms: float | None = None
    scores: list[float] = field(default_factory=list)
    class_scores: dict[str, list[float]] = field(default_factory=dict)  # P(class) per class, multiclass
    labelled: int = 0  # rows with feedback
    online: float | None = None  # the online metric on the labelled rows

    @property
    def error_rate(self) -> float:
        return self.errors / self.rows if self.rows else 0.0

    @property
    def mean_score(self) -> float | None:
        return sum(self.scores) / len(self.scores) if self.scores else None

    def summary(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "rows": self.rows,
            "errors": self.errors,
            "error_rate": self.error_rate,
            "requests": self.requests,
            "p99_latency_ms": self.p99_latency_ms,
            "mean_score": self.mean_score,
            "labelled": self.labelled,
            "online": self.online,
        }


def variant_stats(
    variant: str,
    rows: Sequence[Served],
    feedback: Iterable[Mapping[str, Any]] = (),
    metric: str | None = None,
) -> VariantStats:
    """What one variant served (``rows`` of that variant only), and its online metric from ``feedback``
    joined by request id and row (or by entity id, to the entity's latest row)."""
    stats = VariantStats(variant, rows=len(rows), errors=sum(1 for r in rows if r.error))
    latencies: dict[str, float] = {}
    for r in rows:
        if r.error is None and r.score is not None:
            stats.scores.append(r.score)
        if r.error is None and r.probabilities is not None and len(r.probabilities) > 2:
            for label, probability in r.probabilities.items():
                stats.class_scores.setdefault(label, []).append(probability)
        if r.latency_ms is not None:
            latencies.setdefault(r.request_id, r.latency_ms)
    stats.requests = len({r.request_id for r in rows})
    stats.p99_latency_ms = p99(list(latencies.values()))
    if metric is not None:
        by_request = {(r.request_id, r.row): r for r in rows if r.error is None}
        by_entity = {str(r.entity_id): r for r in sorted(rows, key=lambda r: r.at) if r.entity_id is not None}
        pairs = []
        for f in feedback:
            served = by_request.get((str(f.get("request_id")), int(f.get("row") or 0)))
            if served is None and f.get("entity_id") is not None:
                served = by_entity.get(str(f["entity_id"]))
            if served is not None and served.error is None:
                pairs.append((served.prediction, f.get("actual")))
        stats.labelled = len(pairs)
        stats.online = _online(metric, pairs) if pairs else None
    return stats


def prediction_shift(champion: VariantStats, challenger: VariantStats) -> tuple[float, str]:
    """The challenger's score shift against the champion's, and what it was measured on: the score (binary
    classification: P(last class); regression: the value), or, for more than two classes, the largest PSI
    of any class's probability — P(last class) alone misses two other classes trading places."""
    labels = sorted(set(champion.class_scores) & set(challenger.class_scores))
    if not labels:
        return psi(champion.scores, challenger.scores), ""
    index, label = max((psi(champion.class_scores[k], challenger.class_scores[k]), k) for k in labels)
    return index, f" of P({label})"


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool | None  # None: not judged
    value: float | None
    ceiling: float | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "value": self.value,
            "ceiling": self.ceiling,
            "message": self.message,
        }


@dataclass(frozen=True)
class Verdict:
    healthy: bool
    checks: list[Check]

    @property
    def reasons(self) -> list[str]:
        return [c.message for c in self.checks if c.passed is False]


def judge(deployment: DeploymentSpec, champion: VariantStats, challenger: VariantStats) -> Verdict:
    """Healthy when the challenger served enough rows and no check fails; each check says what it saw."""
    rules = deployment.rollback
    least = deployment.min_canary_rows
    checks = [_traffic(challenger, least)]
    if rules.max_error_rate is not None:
        checks.append(_error_rate(champion, challenger, rules.max_error_rate))
    if rules.max_p99_latency_ms is not None:
        checks.append(_p99_latency(champion, challenger, rules.max_p99_latency_ms))
    if rules.max_prediction_shift is not None:
        checks.append(_prediction_shift(champion, challenger, rules.max_prediction_shift, least))
    if rules.online_metric is not None:
        checks.append(_online_metric(champion, challenger, rules.online_metric))
    return Verdict(healthy=all(c.passed is not False for c in checks), checks=checks)


def _within(ok: bool) -> str:
    return " within" if ok else " over"


def _traffic(challenger: VariantStats, least: int) -> Check:
    enough = challenger.rows >= least
    return Check(
        "traffic",
        enough,
        challenger.rows,
        least,
        f"the challenger served {challenger.rows} rows in the bake window"
        + ("" if enough else f"; at least {least} are needed for a verdict"),
    )


def _error_rate(champion: VariantStats, challenger: VariantStats, ceiling: float) -> Check:
    ok = challenger.error_rate <= ceiling
    return Check(
        "error_rate",
        ok,
        challenger.error_rate,
        ceiling,
        f"error rate {challenger.error_rate:.2%} ({challenger.errors} of {challenger.rows} rows failed)"
        + _within(ok)
        + f" the ceiling {ceiling:.2%}; champion {champion.error_rate:.2%}",
    )


def _p99_latency(champion: VariantStats, challenger: VariantStats, ceiling: float) -> Check:
    value = challenger.p99_latency_ms
    ok = value is None or value <= ceiling
    shown = "no requests" if value is None else f"{value:.1f} ms"
    champion_p99 = "—" if champion.p99_latency_ms is None else f"{champion.p99_latency_ms:.1f} ms"
    return Check(
        "p99_latency_ms",
        ok if value is not None else None,
        value,
        ceiling,
        f"p99 latency {shown}" + _within(ok) + f" the ceiling {ceiling:g} ms; champion {champion_p99}",
    )


def _prediction_shift(champion: VariantStats, challenger: VariantStats, ceiling: float, least: int) -> Check:
    if len(challenger.scores) < least or len(champion.scores) < least:
        return Check(
            "prediction_shift",
            None if challenger.rows < least else False,  # too little traffic is reported once, by the traffic check
            None,
            ceiling,
            f"prediction shift not measurable: {len(challenger.scores)} challenger and "
            f"{len(champion.scores)} champion scores, at least {least} each are needed",
        )
    index, of = prediction_shift(champion, challenger)
    ok = index <= ceiling
    return Check(
        "prediction_shift",
        ok,
        index,
        ceiling,
        f"prediction shift (PSI{of}) {index:.3f}"
        + _within(ok)
        + f" the ceiling {ceiling:g}: mean score {challenger.mean_score:.3f}"
        f" vs the champion's {champion.mean_score:.3f}",
    )


def _online_metric(champion: VariantStats, challenger: VariantStats, online: OnlineMetricSpec) -> Check:
    judged = min(champion.labelled, challenger.labelled) >= online.min_samples
    if not judged or champion.online is None or challenger.online is None:
        return Check(
            f"online_{online.metric}",
            None,
            challenger.online,
            online.max_drop,
            f"online {online.metric} not judged: {challenger.labelled} challenger and "
            f"{champion.labelled} champion rows have feedback, {online.min_samples} each are needed",
        )
    drop = champion.online - challenger.online if online.higher_is_better else challenger.online - champion.online
    ok = drop <= online.max_drop
    return Check(
        f"online_{online.metric}",
        ok,
        challenger.online,
        online.max_drop,
        f"online {online.metric} {challenger.online:.4f} vs the champion's {champion.online:.4f}"
        f" on feedback ({challenger.labelled} and {champion.labelled} rows): worse by {max(drop, 0):.4f},"
        + _within(ok)
        + f" the allowed {online.max_drop:g}",
    )
