"""Drift of live traffic against the reference profile stored at training time: per feature a test chosen by
type and sample size, corrected for testing many columns, no verdict below a minimum sample; the share of
drifted features; the model's scores against its test-split scores; and its metric on labelled traffic
against its registered test metric, with a bootstrap interval.

Counting is vectorised over rows (a few comparisons per column against the reference's decile edges, arrow's
value counts for categories); the statistics, p-values and corrections are computed over all columns at once
as (columns × bins) arrays. scipy gives the distributions, the Jensen–Shannon distance, the false discovery
rate control and the bootstrap."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy import special, stats
from scipy.spatial import distance

from slipway.domain.experiments import row_outcomes
from slipway.domain.profile import category_key
from slipway.domain.stability import SHARE_FLOOR, psi_of_shares
from slipway.spec.monitoring import PERFORMANCE_METRICS, DriftTests, MonitoringSpec, PerformanceSpec

__all__ = [
    "OTHER",
    "PERFORMANCE_METRICS",
    "DatasetDrift",
    "FeatureDrift",
    "PerformanceDrift",
    "dataset_drift",
    "drift_verdict",
    "feature_drift",
    "performance_drift",
    "prediction_drift",
]

OTHER = "(other)"  # the categories beyond the reference's listed ones
Verdict = Literal["drift", "no_drift", "insufficient_data"]


@dataclass(frozen=True)
class FeatureDrift:
    """One column's verdict: the ``test`` that judged it, its ``statistic`` against ``threshold`` (a distance) or
    its corrected p-value against alpha, every other measure for reading, and both distributions on the
    reference's bins (``bins``: edges of numeric bins, or category names) for the report."""

    name: str
    kind: Literal["numeric", "categorical"]
    count: int
    reference_count: int
    null_share: float
    reference_null_share: float
    test: str
    statistic: float | None
    threshold: float
    p_value: float | None
    p_adjusted: float | None
    verdict: Verdict
    psi: float | None
    ks: float | None = None
    js: float | None = None
    unseen_share: float | None = None
    mean_shift_sd: float | None = None
    bins: list[Any] = field(default_factory=list)
    reference: list[float] = field(default_factory=list)
    current: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> dict[str, Any]:
        """The verdict without the distributions (what the table item keeps)."""
        return {k: v for k, v in asdict(self).items() if k not in ("bins", "reference", "current")}


@dataclass(frozen=True)
class DatasetDrift:
    verdict: Verdict
    judged: int
    drifted: list[str]
    share: float | None
    threshold: float
    insufficient: list[str]


def _counts_below(values: np.ndarray, inner: Sequence[float]) -> np.ndarray:
    """How many values lie below each inner edge (NaN compares false, so missing values count nowhere)."""
    return np.array([np.count_nonzero(values < e) for e in inner], dtype=np.int64)


@dataclass
class _Numeric:
    names: list[str] = field(default_factory=list)
    ref: list[np.ndarray] = field(default_factory=list)
    cur: list[np.ndarray] = field(default_factory=list)
    n: list[int] = field(default_factory=list)
    m: list[int] = field(default_factory=list)
    shift: list[float | None] = field(default_factory=list)


def _pad(rows: list[np.ndarray]) -> np.ndarray:
    width = max((r.size for r in rows), default=0)
    out = np.zeros((len(rows), width))
    for i, r in enumerate(rows):
        out[i, : r.size] = r
    return out


def _psi(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Row-wise PSI of (columns × bins) shares; padded bins (zero on both sides) add nothing."""
    return np.array([psi_of_shares(r, c) for r, c in zip(ref.tolist(), cur.tolist(), strict=True)])


def _shares(counts: np.ndarray) -> np.ndarray:
    totals = counts.sum(axis=1, keepdims=True)
    return np.asarray(np.divide(counts, totals, out=np.zeros_like(counts, dtype=float), where=totals > 0))


def _numeric_rows(
    reference: Mapping[str, Any], columns: Mapping[str, np.ndarray], missing: Mapping[str, int]
) -> _Numeric:
    out = _Numeric()
    for name, values in columns.items():
        profile = reference[name]
        edges = profile.get("bins") or []
        if len(edges) < 2:
            continue
        values = np.asarray(values, dtype=np.float64)
        valid = values.size - missing[name]
        counts = np.diff(np.concatenate(([0], _counts_below(values, edges[1:-1]), [valid])))
        out.names.append(name)
        out.ref.append(np.asarray(profile["bin_fractions"], dtype=float))
        out.cur.append(counts.astype(float))
        out.n.append(valid)
        out.m.append(int(profile["count"]))
        std, mean = profile.get("std"), profile.get("mean")
        total = float(np.sum(values)) if missing[name] == 0 else float(np.sum(values, where=~np.isnan(values)))
        current_mean = total / valid if valid else None
        out.shift.append(abs(current_mean - mean) / std if current_mean is not None and std else None)
    return out


def _categorical_counts(values: pa.Array | pa.ChunkedArray, keys: list[str]) -> tuple[np.ndarray, int, int]:
    """Counts of ``values`` per reference category (last: any other value), how many are unseen, non-null total."""
    counted = pc.value_counts(values.drop_null())
    found = counted.field("values").to_pylist()  # one Python value per distinct value, never per row
    freq = counted.field("counts").to_numpy()
    index = {k: i for i, k in enumerate(keys)}
    positions = np.array([index.get(category_key(v), len(keys)) for v in found], dtype=np.int64)
    counts = np.bincount(positions, weights=freq, minlength=len(keys) + 1) if found else np.zeros(len(keys) + 1)
    return counts, int(counts[-1]), int(freq.sum()) if found else 0


def _correct(p: np.ndarray, method: str) -> np.ndarray:
    if p.size == 0 or method == "none":
        return p
    if method == "bonferroni":
        return np.asarray(np.minimum(p * p.size, 1.0))
    return np.asarray(stats.false_discovery_control(p, method="bh"))


def feature_drift(
    reference: Mapping[str, Mapping[str, Any]],
    numeric: Mapping[str, np.ndarray],
    categorical: Mapping[str, pa.Array | pa.ChunkedArray],
    monitoring: MonitoringSpec,
) -> list[FeatureDrift]:
    """Judge each column of the current window against its reference profile (``domain.profile``).

    ``numeric``: column → float64 values (NaN for missing); ``categorical``: column → arrow values. A column
    with fewer than ``min_sample`` non-null values gets "insufficient_data"; one with ``tests.large_sample``
    values or more is judged by distance (PSI, Jensen–Shannon); the rest by p-values (KS, chi-squared), corrected
    together over every column so tested."""
    tests = monitoring.tests
    results: list[dict[str, Any]] = []
    nulls: dict[str, tuple[float, float]] = {}
    missing_numbers: dict[str, int] = {}
    for name, values in list(numeric.items()) + list(categorical.items()):
        size = len(values)
        if isinstance(values, np.ndarray):
            missing = missing_numbers[name] = int(np.count_nonzero(np.isnan(values)))
        else:
            missing = values.null_count
        ref = reference[name]
        ref_total = int(ref.get("count", 0)) + int(ref.get("nulls", 0))
        nulls[name] = (missing / size if size else 0.0, int(ref.get("nulls", 0)) / ref_total if ref_total else 0.0)

    num = _numeric_rows(reference, numeric, missing_numbers)
    if num.names:
        ref_shares, cur_counts = _pad(num.ref), _pad(num.cur)
        cur_shares = _shares(cur_counts)
        psi = _psi(ref_shares, cur_shares)
        # KS on the reference's decile edges: the largest gap between the two cumulative shares
        ks = np.abs(np.cumsum(ref_shares, axis=1) - np.cumsum(cur_shares, axis=1)).max(axis=1)
        n, m = np.array(num.n, dtype=float), np.array(num.m, dtype=float)
        effective = np.divide(n * m, n + m, out=np.zeros_like(n), where=(n + m) > 0)
        p_ks = special.kolmogorov(ks * np.sqrt(effective))
        for i, name in enumerate(num.names):
            width = num.ref[i].size
            edges = list(reference[name]["bins"])
            results.append(
                {
                    "name": name,
                    "kind": "numeric",
                    "count": num.n[i],
                    "reference_count": num.m[i],
                    "psi": float(psi[i]),
                    "ks": float(ks[i]),
                    "mean_shift_sd": num.shift[i],
                    "large": ("psi", float(psi[i]), tests.psi_threshold),
                    "small": ("ks", float(ks[i]), float(p_ks[i])),
                    "bins": edges,
                    "reference": [float(x) for x in ref_shares[i, :width]],
                    "current": [float(x) for x in cur_shares[i, :width]],
                }
            )

    names, ref_rows, cur_rows, unseen, keys_of = [], [], [], [], []
    for name, values in categorical.items():
        top = {str(k): float(v) for k, v in dict(reference[name].get("top", {})).items()}
        keys = list(top)
        counts, outside, total = _categorical_counts(values, keys)
        names.append(name)
        ref_rows.append(np.array([*top.values(), max(0.0, 1.0 - sum(top.values()))]))
        cur_rows.append(counts)
        unseen.append(outside / total if total else None)
        keys_of.append(keys)
    if names:
        ref_shares, cur_counts = _pad(ref_rows), _pad(cur_rows)
        cur_shares = _shares(cur_counts)
        psi = _psi(ref_shares, cur_shares)
        with np.errstate(invalid="ignore", divide="ignore"):  # a column with no values: no distance, no test
            js = np.nan_to_num(distance.jensenshannon(ref_shares, cur_shares, base=2, axis=1))
            totals = cur_counts.sum(axis=1)
            used = (ref_shares > 0) | (cur_counts > 0)
            expected = np.where(used, np.maximum(ref_shares, SHARE_FLOOR), 0.0)
            expected = expected / expected.sum(axis=1, keepdims=True) * totals[:, None]
            chi = np.where(used, (cur_counts - expected) ** 2 / np.where(used, expected, 1.0), 0.0).sum(axis=1)
            dof = np.maximum(used.sum(axis=1) - 1, 1)
        p_chi = stats.chi2.sf(chi, dof)
        for i, name in enumerate(names):
            width = ref_rows[i].size
            results.append(
                {
                    "name": name,
                    "kind": "categorical",
                    "count": int(totals[i]),
                    "reference_count": int(reference[name].get("count", 0)),
                    "psi": float(psi[i]),
                    "js": float(js[i]),
                    "unseen_share": unseen[i],
                    "large": ("jensen_shannon", float(js[i]), tests.js_threshold),
                    "small": ("chi2", float(chi[i]), float(p_chi[i])),
                    "bins": [*keys_of[i], OTHER],
                    "reference": [float(x) for x in ref_shares[i, :width]],
                    "current": [float(x) for x in cur_shares[i, :width]],
                }
            )
    return _verdicts(results, nulls, monitoring.min_sample, tests)


def _verdicts(
    results: list[dict[str, Any]], nulls: Mapping[str, tuple[float, float]], min_sample: int, tests: DriftTests
) -> list[FeatureDrift]:
    tested = [r for r in results if min_sample <= r["count"] < tests.large_sample]
    adjusted = _correct(np.array([r["small"][2] for r in tested], dtype=float), tests.correction)
    p_adjusted = {r["name"]: float(p) for r, p in zip(tested, adjusted, strict=True)}
    out = []
    for r in results:
        large, small = r.pop("large"), r.pop("small")
        null_share, reference_null_share = nulls[r["name"]]
        common = {**r, "null_share": null_share, "reference_null_share": reference_null_share}
        if r["count"] < min_sample:
            test, threshold = small[0], tests.alpha  # below min_sample is below large_sample: a tested column
            out.append(
                FeatureDrift(
                    **common,
                    test=test,
                    statistic=None,
                    threshold=threshold,
                    p_value=None,
                    p_adjusted=None,
                    verdict="insufficient_data",
                )
            )
        elif r["name"] in p_adjusted:
            p = p_adjusted[r["name"]]
            out.append(
                FeatureDrift(
                    **common,
                    test=small[0],
                    statistic=small[1],
                    threshold=tests.alpha,
                    p_value=small[2],
                    p_adjusted=p,
                    verdict="drift" if p < tests.alpha else "no_drift",
                )
            )
        else:
            test, statistic, threshold = large
            out.append(
                FeatureDrift(
                    **common,
                    test=test,
                    statistic=statistic,
                    threshold=threshold,
                    p_value=None,
                    p_adjusted=None,
                    verdict="drift" if statistic >= threshold else "no_drift",
                )
            )
    return out


def dataset_drift(features: Sequence[FeatureDrift], drift_share: float) -> DatasetDrift:
    """The dataset drifts when the share of drifted features among those judged reaches ``drift_share``."""
    judged = [f for f in features if f.verdict != "insufficient_data"]
    drifted = [f.name for f in judged if f.verdict == "drift"]
    insufficient = [f.name for f in features if f.verdict == "insufficient_data"]
    if not judged:
        return DatasetDrift("insufficient_data", 0, [], None, drift_share, insufficient)
    share = len(drifted) / len(judged)
    return DatasetDrift(
        "drift" if share >= drift_share else "no_drift", len(judged), drifted, share, drift_share, insufficient
    )


# ---------------------------------------------------------------- performance drift


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.asarray(np.divide(num, den, out=np.zeros_like(num, dtype=float), where=den > 0))


def _metric(name: str) -> Any:
    """The metric as a statistic of (truth, predicted, positive score, true-class probability) along ``axis``."""

    def statistic(y: np.ndarray, pred: np.ndarray, score: np.ndarray, p_true: np.ndarray, axis: int = -1) -> Any:
        if name in ("accuracy", "log_loss", "mae"):  # means of per-row outcomes, as an experiment compares them
            return np.mean(row_outcomes(name, y, pred, p_true), axis=axis)
        if name == "roc_auc":  # Mann–Whitney U with average ranks for ties
            ranks = stats.rankdata(score, axis=axis)
            positive = y == 1
            n_pos = positive.sum(axis=axis)
            n_neg = positive.shape[axis] - n_pos
            u = (ranks * positive).sum(axis=axis) - n_pos * (n_pos + 1) / 2
            return _ratio(u, n_pos * n_neg)
        if name in ("f1", "precision", "recall"):
            tp = ((pred == 1) & (y == 1)).sum(axis=axis)
            precision = _ratio(tp, (pred == 1).sum(axis=axis))
            recall = _ratio(tp, (y == 1).sum(axis=axis))
            return {"precision": precision, "recall": recall}.get(
                name, _ratio(2 * precision * recall, precision + recall)
            )
        if name == "rmse":
            return np.sqrt(np.mean(row_outcomes(name, y, pred), axis=axis))
        error = pred - y
        if name == "r2":
            residual = np.sum(error**2, axis=axis)
            total = np.sum((y - np.mean(y, axis=axis, keepdims=True)) ** 2, axis=axis)
            return 1.0 - _ratio(residual, total)
        raise ValueError(f"no bootstrapped performance metric {name!r}")

    return statistic


@dataclass(frozen=True)
class PerformanceDrift:
    metric: str
    verdict: Verdict
    labelled: int
    value: float | None
    low: float | None
    high: float | None
    reference: float | None
    max_drop: float
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def performance_drift(
    metric: str,
    truth: np.ndarray,
    predicted: np.ndarray,
    score: np.ndarray,
    p_true: np.ndarray,
    reference: float | None,
    spec: PerformanceSpec,
    random_state: int = 0,
) -> PerformanceDrift:
    """``metric`` on the labelled rows (classification: label codes in ``truth``/``predicted``, the positive
    class's probability in ``score``, the true class's in ``p_true``; regression: values in ``truth``/``predicted``)
    with a percentile bootstrap interval. Drifted when the whole interval is worse than ``reference`` (the
    registered test metric) by more than ``spec.max_drop``."""
    if metric not in PERFORMANCE_METRICS:
        raise ValueError(f"performance metric must be one of {', '.join(PERFORMANCE_METRICS)}, not {metric!r}")
    higher = PERFORMANCE_METRICS[metric][1]
    n = int(truth.size)
    if n < spec.min_samples or reference is None:
        why = f"{n} labelled rows, at least {spec.min_samples} are needed" if reference is not None else ""
        why = why or f"the version has no registered test {metric}"
        return PerformanceDrift(metric, "insufficient_data", n, None, None, None, reference, spec.max_drop, why)
    statistic = _metric(metric)
    data = (truth.astype(float), predicted.astype(float), score.astype(float), p_true.astype(float))
    value = float(statistic(*data))
    interval = stats.bootstrap(
        data,
        statistic,
        n_resamples=spec.resamples,
        confidence_level=spec.confidence,
        method="percentile",
        paired=True,
        vectorized=True,
        batch=max(1, 2_000_000 // max(n, 1)),
        random_state=random_state,
    ).confidence_interval
    low, high = float(interval.low), float(interval.high)
    worse = (reference - spec.max_drop > high) if higher else (reference + spec.max_drop < low)
    bound = high if higher else low
    message = (
        f"{metric} {value:.4f} on {n} labelled rows ({spec.confidence:.0%} interval {low:.4f}–{high:.4f}) vs "
        f"{reference:.4f} at registration: "
        + (
            f"the interval's best ({bound:.4f}) is worse by more than {spec.max_drop:g}"
            if worse
            else f"within {spec.max_drop:g}"
        )
    )
    return PerformanceDrift(
        metric, "drift" if worse else "no_drift", n, value, low, high, reference, spec.max_drop, message
    )


def prediction_drift(reference: Mapping[str, Any], scores: np.ndarray, monitoring: MonitoringSpec) -> FeatureDrift:
    """The served scores (P(positive class), or the predicted value) against the test-split scores profiled at
    registration, judged like a numeric feature (one test: nothing to correct)."""
    single = monitoring.model_copy(update={"tests": monitoring.tests.model_copy(update={"correction": "none"})})
    return feature_drift({"score": reference}, {"score": np.asarray(scores, dtype=np.float64)}, {}, single)[0]


def drift_verdict(
    dataset: DatasetDrift, prediction: FeatureDrift | None, performance: PerformanceDrift
) -> tuple[bool, str]:
    """Whether the check found drift (the dataset's, the scores' or the metric's), and why, in one sentence."""
    reasons = []
    if dataset.verdict == "drift":
        reasons.append(f"{len(dataset.drifted)} of {dataset.judged} features drifted ({', '.join(dataset.drifted)})")
    elif dataset.drifted:  # some features moved, fewer than the share that makes the dataset drift
        reasons.append(
            f"{', '.join(dataset.drifted)} moved ({len(dataset.drifted)} of {dataset.judged} features, under the "
            f"drift share {dataset.threshold:g})"
        )
    if prediction is not None and prediction.verdict == "drift":
        reasons.append(f"scores drifted ({prediction.test} {prediction.statistic:.3g})")
    if performance.verdict == "drift":
        reasons.append(performance.message)
    drifted = dataset.verdict == "drift" or any(v.verdict == "drift" for v in (prediction, performance) if v)
    if not reasons:
        reasons.append("no drift" if dataset.verdict != "insufficient_data" else "insufficient data for a verdict")
    return drifted, "; ".join(reasons)
