"""Judge a challenger: pick the best candidate, measure it on the test split, and decide the gates with reasons."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from slipway.domain.categories import label_key
from slipway.domain.decision import decide
from slipway.domain.training import metrics_from_scores
from slipway.spec.training import GatesSpec, metric_direction

__all__ = [
    "IMPORTANCE_MAX_ROWS",
    "MISSING_GROUP",
    "GateDecision",
    "compare",
    "decide_gates",
    "fairness",
    "holdout_metrics",
    "scalar_metrics",
    "select_best",
    "top_importances",
]

IMPORTANCE_MAX_ROWS = 2000
MISSING_GROUP = "(missing)"
_MAIN_METRIC = {"classification": "roc_auc", "regression": "r2"}


def _number(value: Any) -> float | None:
    """``value`` as a finite float, or ``None`` when it is missing, NaN or infinite."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def select_best(results: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    """The result with the best ``metric`` (by its direction): its cross-validated mean when every result has one,
    else its validation split's; ties go to the lowest index.

    Results without a finite value of the metric cannot win; if none has one, ``ValueError``.
    """
    sign = 1.0 if metric_direction(metric) == "min" else -1.0
    folded = bool(results) and all(r.get("cv") for r in results)

    def value(result: dict[str, Any]) -> float | None:
        return _number((result["cv"]["mean"] if folded else result["metrics"]).get(metric))

    ranked = [(sign * v, r["index"], r) for r in results if (v := value(r)) is not None]
    if not ranked:
        raise ValueError(f"no candidate has a {metric} value to select on")
    best = min(ranked, key=lambda item: (item[0], item[1]))
    return best[2]


def holdout_metrics(
    y_true: Any,
    y_score: Any,
    task: str,
    labels: list[Any] | None = None,
    positive: int = 1,
    threshold: float | None = None,
) -> dict[str, Any]:
    """Test-split metrics. Classification (``y_true`` label codes, ``y_score`` class probabilities) adds the
    k x k confusion matrix (rows actual, columns predicted, in ``labels`` order), precision/recall/f1/support of
    each label (``per_class``) and, for two classes, the rate of predicted positives; labels are predicted as
    serving predicts them (``decide``: the most probable, or by the version's decision ``threshold``)."""
    metrics: dict[str, Any] = metrics_from_scores(y_true, y_score, task, positive, threshold)
    if task == "classification":
        truth = np.asarray(y_true).astype(np.int64)
        scores = np.asarray(y_score, dtype=float)
        k = scores.shape[1]
        names = [label_key(v) for v in labels] if labels is not None else [str(c) for c in range(k)]
        predicted = decide(scores, positive, threshold)
        codes = list(range(k))
        metrics["confusion_matrix"] = confusion_matrix(truth, predicted, labels=codes).tolist()
        precision, recall, f1, support = precision_recall_fscore_support(
            truth, predicted, labels=codes, zero_division=0
        )
        metrics["per_class"] = {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(n)}
            for name, p, r, f, n in zip(names, precision, recall, f1, support, strict=True)
        }
        if k == 2:
            metrics["positive_rate"] = float(np.mean(predicted == positive)) if predicted.size else 0.0
    return metrics


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The single-number metrics (no confusion matrix or per-class table), as run and version items record them."""
    return {k: v for k, v in metrics.items() if not isinstance(v, (list, dict))}


def fairness(
    y_true: Any,
    y_pred: Any,
    groups: Any,
    min_group_size: int = 1,
    *,
    positive: int | None = 1,
    labels: list[Any] | None = None,
) -> dict[str, Any]:
    """Group fairness of predicted label codes over one sensitive attribute.

    With a ``positive`` class (binary), both gaps are about that class. With several classes (``positive``
    None), each class is judged one-vs-rest (``by_class``, keyed by label) and each gap is the largest over
    the classes: the widest difference between groups in how often a class is predicted, and in how often its
    actual members are found.
    """
    truth, predicted = np.asarray(y_true).astype(np.int64), np.asarray(y_pred).astype(np.int64)
    if positive is not None:
        return _binary_fairness(truth == positive, predicted == positive, groups, min_group_size)
    k = len(labels) if labels is not None else int(max(truth.max(initial=0), predicted.max(initial=0))) + 1
    names = [label_key(v) for v in labels] if labels is not None else [str(c) for c in range(k)]
    by_class = {
        name: _binary_fairness(truth == c, predicted == c, groups, min_group_size) for c, name in enumerate(names)
    }
    out: dict[str, Any] = {}
    for gap in ("demographic_parity_difference", "equal_opportunity_difference"):
        values = [r[gap] for r in by_class.values() if r[gap] is not None]
        out[gap] = max(values) if values else None
    first = next(iter(by_class.values()))
    groups_n = {g: {"n": v["n"], "in_gaps": v["in_gaps"]} for g, v in first["groups"].items()}
    return {**out, "min_group_size": min_group_size, "groups": groups_n, "by_class": by_class}


def _binary_fairness(y_true: Any, y_pred: Any, groups: Any, min_group_size: int) -> dict[str, Any]:
    """Group fairness of hard yes/no predictions of one class over one sensitive attribute.

    ``demographic_parity_difference`` is the max-min positive prediction rate across groups,
    ``equal_opportunity_difference`` the max-min true positive rate across groups that have positives
    (``None`` when no group has any). Missing attribute values form their own group, ``"(missing)"``.
    Groups with fewer than ``min_group_size`` rows are reported but left out of both gaps: their rates
    are noise (a 12-row group swings by 8 points per row).
    """
    truth = np.asarray(y_true).astype(int)
    predicted = np.asarray(y_pred).astype(int)
    codes, uniques = pd.factorize(pd.Series(np.asarray(groups, dtype=object)), sort=True, use_na_sentinel=False)
    k = len(uniques)
    n = np.bincount(codes, minlength=k)
    predicted_pos = np.bincount(codes, weights=predicted, minlength=k)
    actual_pos = np.bincount(codes, weights=truth, minlength=k)
    true_pos = np.bincount(codes, weights=truth * predicted, minlength=k)
    positive_rate = np.divide(predicted_pos, n, out=np.zeros(k), where=n > 0)
    has_pos = actual_pos > 0
    tpr = np.divide(true_pos, actual_pos, out=np.zeros(k), where=has_pos)
    names = [MISSING_GROUP if pd.isna(u) else str(u) for u in uniques]
    counted = n >= min_group_size
    per_group = {
        name: {
            "n": int(n[i]),
            "positive_rate": float(positive_rate[i]),
            "tpr": float(tpr[i]) if has_pos[i] else None,
            "in_gaps": bool(counted[i]),
        }
        for i, name in enumerate(names)
    }
    return {
        "demographic_parity_difference": float(np.ptp(positive_rate[counted])) if counted.any() else None,
        "equal_opportunity_difference": float(np.ptp(tpr[has_pos & counted])) if (has_pos & counted).any() else None,
        "min_group_size": min_group_size,
        "groups": per_group,
    }


def top_importances(
    pipeline: Any, X_test: pd.DataFrame, y_test: Any, task: str, seed: int, n_repeats: int = 5, top: int = 10
) -> list[dict[str, Any]]:
    """Permutation importance of each raw input column on the test split, scored by the task's main metric.

    At most ``IMPORTANCE_MAX_ROWS`` rows are used, drawn without replacement by ``seed``, so the cost is
    bounded and the result repeatable. Falls back to accuracy when the sample holds a single class.
    """
    y = np.asarray(y_test)
    rows = len(X_test)
    if rows > IMPORTANCE_MAX_ROWS:
        picked = np.sort(np.random.default_rng(seed).choice(rows, size=IMPORTANCE_MAX_ROWS, replace=False))
        X_test, y = X_test.iloc[picked], y[picked]
    scoring = _MAIN_METRIC[task]
    if task == "classification" and np.unique(y).size < 2:
        scoring = "accuracy"
    elif task == "classification" and len(getattr(pipeline, "classes_", [0, 1])) > 2:
        scoring = "roc_auc_ovr" if np.unique(y).size == len(pipeline.classes_) else "accuracy"
    result = permutation_importance(pipeline, X_test, y, scoring=scoring, n_repeats=n_repeats, random_state=seed)
    ranked = sorted(
        zip(map(str, X_test.columns), result.importances_mean, result.importances_std, strict=True),
        key=lambda item: (-float(item[1]), item[0]),
    )
    return [{"feature": name, "importance": float(mean), "std": float(std)} for name, mean, std in ranked[:top]]


@dataclass
class GateDecision:
    """Whether the challenger may be registered, why not, and every gate that was evaluated."""

    passed: bool
    reasons: list[str] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def summary(self) -> str:
        """One line for logs, run records and the model card."""
        if self.passed:
            return f"passed all {len(self.checks)} gates"
        failed = sum(1 for c in self.checks if not c["passed"])
        return f"failed {failed} of {len(self.checks)} gates: " + "; ".join(self.reasons)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, with the summary, for Step Functions state and the model card."""
        return {**asdict(self), "summary": self.summary}


def _pair(value: float, bound: float, digits: int) -> tuple[str, str]:
    """Format value and bound with ``digits`` decimals, more if that would make them look equal."""
    for d in range(digits, 10):
        a, b = f"{value:.{d}f}", f"{bound:.{d}f}"
        if a != b:
            return a, b
    return f"{value:.{digits}f}", f"{bound:.{digits}f}"


def _version_label(champion: dict[str, Any]) -> str:
    version = str(champion.get("version", "?"))
    if version.isdigit():
        return f"v{int(version)}"
    return version if version.startswith("v") else f"v{version}"


def decide_gates(
    gates: GatesSpec,
    challenger: dict[str, Any],
    champion: dict[str, Any] | None,
    fairness_by_attr: dict[str, dict[str, Any]],
) -> GateDecision:
    """Evaluate every gate of the spec; any failure (or a metric the gate needs but is missing) blocks.

    ``challenger`` is the challenger's test metrics; ``champion`` is ``{"version", "metrics"}`` of the
    current production model, or ``None`` for a first model (regression gates are then skipped);
    ``fairness_by_attr`` maps each sensitive attribute to its ``fairness(...)`` result.
    """
    reasons: list[str] = []
    checks: list[dict[str, Any]] = []

    def check(gate: str, name: str, value: float | None, bound: float, ok: bool, reason: str, **extra: Any) -> None:
        checks.append({"gate": gate, "metric": name, "value": value, "bound": bound, "passed": ok, **extra})
        if not ok:
            reasons.append(reason)

    for gate, bounds, op, word in (
        ("min_metrics", gates.min_metrics, "<", "min"),
        ("max_metrics", gates.max_metrics, ">", "max"),
    ):
        for metric, bound in bounds.items():
            value = _number(challenger.get(metric))
            if value is None:
                check(gate, metric, None, bound, False, f"{metric} is missing from the challenger's metrics")
                continue
            beyond = value < bound if op == "<" else value > bound
            ok = not beyond or _close(value, bound)
            shown, limit = _pair(value, bound, 3)
            check(gate, metric, value, bound, ok, f"{metric} {shown} {op} {word} {limit}")

    for metric, allowed in gates.max_regression.items():
        if champion is None:
            check("max_regression", metric, None, allowed, True, "", note="no champion to compare with")
            continue
        label = _version_label(champion)
        new, old = _number(challenger.get(metric)), _number(champion.get("metrics", {}).get(metric))
        if new is None or old is None:
            side = "challenger" if new is None else f"champion {label}"
            check("max_regression", metric, None, allowed, False, f"{metric} is missing from the {side}'s metrics")
            continue
        worsening = (new - old) if metric_direction(metric) == "min" else (old - new)
        ok = worsening <= allowed or _close(worsening, allowed)
        shown, limit = _pair(worsening, allowed, 3)
        reason = f"{metric} regressed {shown} vs champion {label} (max {limit})"
        check("max_regression", metric, worsening, allowed, ok, reason, champion=old, challenger=new, vs=label)

    if gates.max_fairness_gap and not fairness_by_attr:
        reasons.append("max_fairness_gap is set but no sensitive attribute was evaluated")
        checks.append({"gate": "max_fairness_gap", "metric": None, "value": None, "bound": None, "passed": False})
    for attribute, report in fairness_by_attr.items():
        for metric, bound in gates.max_fairness_gap.items():
            gap = _number(report.get(metric))
            if gap is None:
                note = "undefined: no group has actual positives"
                check("max_fairness_gap", metric, None, bound, True, "", attribute=attribute, note=note)
                continue
            ok = gap <= bound or _close(gap, bound)
            shown, limit = _pair(gap, bound, 2)
            reason = f"{attribute}: {metric} {shown} > max {limit}"
            check("max_fairness_gap", metric, gap, bound, ok, reason, attribute=attribute)

    return GateDecision(passed=not reasons, reasons=reasons, checks=checks)


def compare(
    champion_metrics: dict[str, Any], challenger_metrics: dict[str, Any], metrics: Sequence[str]
) -> list[dict[str, Any]]:
    """Side-by-side rows for ``metrics``; ``delta`` is challenger - champion, ``better`` respects direction.

    A metric missing (or not finite) on either side is left out.
    """
    rows: list[dict[str, Any]] = []
    for metric in metrics:
        old, new = _number(champion_metrics.get(metric)), _number(challenger_metrics.get(metric))
        if old is None or new is None:
            continue
        if _close(new, old):
            better = "tie"
        elif (new > old) == (metric_direction(metric) == "max"):
            better = "challenger"
        else:
            better = "champion"
        rows.append({"metric": metric, "champion": old, "challenger": new, "delta": new - old, "better": better})
    return rows
