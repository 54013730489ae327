"""Drift statistics against a stored reference profile: known distributions, injected drift found on exactly
the drifted columns, few false alarms on undrifted samples, no verdict on too little data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import stats
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.metrics import roc_auc_score

from slipway.domain.drift import (
    OTHER,
    dataset_drift,
    feature_drift,
    performance_drift,
    prediction_drift,
)
from slipway.domain.profile import profile_table
from slipway.spec.data import DataContract
from slipway.spec.monitoring import MonitoringSpec, PerformanceSpec

NUMERIC = [f"x{i:02d}" for i in range(20)]
CATEGORIES = [f"c{i}" for i in range(5)]
LEVELS = np.array(["a", "b", "c", "d", "e"])
WEIGHTS = np.array([0.4, 0.25, 0.15, 0.12, 0.08])
SPEC = MonitoringSpec()


def _contract(numeric: list[str], categorical: list[str]) -> DataContract:
    columns = [{"name": n, "type": "float"} for n in numeric] + [{"name": c, "type": "category"} for c in categorical]
    return DataContract.model_validate({"columns": [*columns, {"name": "y", "type": "int"}], "target": "y"})


def _frame(rng: np.random.Generator, rows: int, drifted: frozenset[str] = frozenset()) -> dict[str, np.ndarray]:
    """25 columns: 20 normal (a drifted one shifts by 0.6 sd and widens), 5 categorical (a drifted one moves
    share from the common levels to the rare ones)."""
    out: dict[str, np.ndarray] = {}
    for i, name in enumerate(NUMERIC):
        loc, scale = float(i), 1.0 + i / 10
        shifted = name in drifted
        out[name] = rng.normal(loc + (0.6 * scale if shifted else 0.0), scale * (1.3 if shifted else 1.0), rows)
    for name in CATEGORIES:
        weights = WEIGHTS[::-1] if name in drifted else WEIGHTS
        out[name] = rng.choice(LEVELS, size=rows, p=weights)
    return out


@pytest.fixture(scope="module")
def reference() -> dict[str, dict[str, object]]:
    data = _frame(np.random.default_rng(12345), 50_000)
    table = pa.table({**data, "y": np.zeros(50_000, dtype=np.int64)})
    return profile_table(table, _contract(NUMERIC, CATEGORIES))


def _check(reference: dict[str, dict[str, object]], data: dict[str, np.ndarray], spec: MonitoringSpec = SPEC):
    numeric = {n: data[n] for n in NUMERIC}
    categorical = {c: pa.array(data[c]) for c in CATEGORIES}
    return feature_drift(reference, numeric, categorical, spec)


def test_same_distribution_is_not_drift_and_a_shifted_normal_is(reference) -> None:
    # GIVEN the reference's distribution, and the same with x00 shifted by 0.6 sd
    rng = np.random.default_rng(1)
    same = _check(reference, _frame(rng, 20_000))
    shifted = _check(reference, _frame(rng, 20_000, frozenset({"x00"})))

    # THEN nothing drifts on the first; on the second x00 alone, by PSI past 0.2 (large sample)
    assert [f.name for f in same if f.verdict == "drift"] == []
    assert max(f.statistic for f in same if f.test == "psi") < 0.02
    drifted = [f for f in shifted if f.verdict == "drift"]
    assert [(f.name, f.test) for f in drifted] == [("x00", "psi")]
    assert drifted[0].statistic > 0.2 and drifted[0].mean_shift_sd == pytest.approx(0.6, abs=0.05)
    assert drifted[0].bins == reference["x00"]["bins"] and sum(drifted[0].current) == pytest.approx(1.0)


@pytest.mark.parametrize("rows", [400, 20_000], ids=["tested-by-p-values", "judged-by-distance"])
def test_drift_injected_into_k_of_25_columns_is_found_on_exactly_those(reference, rows: int) -> None:
    # GIVEN 5 of 25 columns drifted (3 numeric, 2 categorical)
    injected = frozenset({"x03", "x07", "x15", "c1", "c4"})
    found = _check(reference, _frame(np.random.default_rng(7), rows, injected))

    # THEN exactly those drift, and the dataset drifts only when their share reaches the spec's threshold
    assert {f.name for f in found if f.verdict == "drift"} == injected
    assert dataset_drift(found, 0.5).verdict == "no_drift"
    verdict = dataset_drift(found, 0.2)
    assert (verdict.verdict, verdict.judged, verdict.share) == ("drift", 25, 0.2)
    tests = {f.test for f in found}
    assert tests == ({"ks", "chi2"} if rows < SPEC.tests.large_sample else {"psi", "jensen_shannon"})


@pytest.mark.parametrize("rows", [300, 5_000], ids=["tested-by-p-values", "judged-by-distance"])
def test_false_alarms_on_100_undrifted_seeds_are_at_most_5_percent(reference, rows: int) -> None:
    # GIVEN 100 undrifted windows WHEN each is checked on 25 columns
    alarms = sum(
        any(f.verdict == "drift" for f in _check(reference, _frame(np.random.default_rng(seed), rows)))
        for seed in range(100)
    )
    # THEN at most 5 windows show any drifted column (the correction holds the family-wise rate)
    print(f"{rows} rows: {alarms} of 100 undrifted windows had a drifted column")
    assert alarms <= 5


def test_below_the_minimum_sample_the_verdict_is_insufficient_data(reference) -> None:
    # GIVEN 60 rows, even badly drifted, against min_sample 100
    found = _check(reference, _frame(np.random.default_rng(3), 60, frozenset(NUMERIC)))

    # THEN no column gets a verdict, and neither does the dataset
    assert {f.verdict for f in found} == {"insufficient_data"}
    assert all(f.statistic is None and f.p_value is None for f in found)
    overall = dataset_drift(found, 0.5)
    assert (overall.verdict, overall.share, len(overall.insufficient)) == ("insufficient_data", None, 25)


def test_p_values_are_corrected_together_for_the_columns_tested(reference) -> None:
    found = _check(reference, _frame(np.random.default_rng(5), 500, frozenset({"x01", "c2"})))
    raw = np.array([f.p_value for f in found])
    assert [f.p_adjusted for f in found] == pytest.approx(list(stats.false_discovery_control(raw, method="bh")))
    bonferroni = MonitoringSpec.model_validate({"tests": {"correction": "bonferroni"}})
    strict = _check(reference, _frame(np.random.default_rng(5), 500, frozenset({"x01", "c2"})), bonferroni)
    assert [f.p_adjusted for f in strict] == pytest.approx(list(np.minimum(raw * 25, 1.0)))


def test_unseen_categories_are_measured_and_drift(reference) -> None:
    # GIVEN c0 where 30% of values are a level the reference never saw
    data = _frame(np.random.default_rng(9), 5_000)
    data["c0"] = np.where(np.random.default_rng(10).random(5_000) < 0.3, "zz", data["c0"])
    c0 = next(f for f in _check(reference, data) if f.name == "c0")

    # THEN its unseen share is reported and the Jensen–Shannon distance passes the threshold
    assert c0.unseen_share == pytest.approx(0.3, abs=0.02)
    assert c0.bins[-1] == OTHER and c0.current[-1] == pytest.approx(0.3, abs=0.02)
    assert c0.verdict == "drift" and c0.js is not None and c0.js > 0.1


def test_missing_values_are_counted_apart(reference) -> None:
    data = _frame(np.random.default_rng(11), 2_000)
    data["x02"][:500] = np.nan
    x02 = next(f for f in _check(reference, data) if f.name == "x02")
    assert (x02.count, x02.null_share, x02.verdict) == (1_500, 0.25, "no_drift")


def test_prediction_drift_trips_on_shifted_scores_alone() -> None:
    # GIVEN test-split scores profiled at registration
    rng = np.random.default_rng(2)
    scores = rng.beta(2, 5, 4_000)
    profile = profile_table(pa.table({"s": scores, "y": np.zeros(4_000, np.int64)}), _contract(["s"], []))["s"]

    # THEN served scores from the same distribution do not drift, scores pushed up do
    assert prediction_drift(profile, rng.beta(2, 5, 3_000), SPEC).verdict == "no_drift"
    moved = prediction_drift(profile, rng.beta(4, 4, 3_000), SPEC)
    assert (moved.verdict, moved.test) == ("drift", "psi")
    assert prediction_drift(profile, rng.beta(4, 4, 20), SPEC).verdict == "insufficient_data"


def _labelled(rng: np.random.Generator, rows: int, flip: float) -> tuple[np.ndarray, ...]:
    truth = rng.integers(0, 2, rows)
    score = np.clip(truth * 0.6 + rng.normal(0.2, 0.2, rows), 0, 1)
    wrong = rng.random(rows) < flip
    predicted = np.where(wrong, 1 - truth, (score > 0.5).astype(int))
    p_true = np.where(truth == 1, score, 1 - score)
    return truth, predicted, score, p_true


def test_performance_drift_trips_when_the_interval_is_worse_than_the_registered_metric() -> None:
    rng = np.random.default_rng(4)
    spec = PerformanceSpec(max_drop=0.05, min_samples=100, resamples=500)
    truth, predicted, score, p_true = _labelled(rng, 2_000, flip=0.0)
    good = performance_drift("accuracy", truth, predicted, score, p_true, float(np.mean(truth == predicted)), spec)
    assert good.verdict == "no_drift" and good.low <= good.value <= good.high

    # WHEN a quarter of the predictions go wrong against a registered accuracy of the good case
    worse = performance_drift("accuracy", *_labelled(rng, 2_000, flip=0.25), good.value, spec)
    assert worse.verdict == "drift" and worse.high < good.value - 0.05

    # roc_auc is the Mann–Whitney statistic scikit-learn computes; too few labels give no verdict
    auc = performance_drift("roc_auc", truth, predicted, score, p_true, 0.9, spec)
    assert auc.value == pytest.approx(roc_auc_score(truth, score))
    few = performance_drift("accuracy", truth[:50], predicted[:50], score[:50], p_true[:50], 0.9, spec)
    assert few.verdict == "insufficient_data" and "50 labelled rows" in few.message


def test_regression_performance_drift_on_rmse() -> None:
    rng = np.random.default_rng(6)
    truth = rng.normal(size=1_000)
    spec = PerformanceSpec(max_drop=0.1, resamples=300)
    noisy = truth + rng.normal(0, 1.0, 1_000)
    none = np.zeros(1_000)
    result = performance_drift("rmse", truth, noisy, noisy, none, 0.5, spec)
    assert result.verdict == "drift" and result.value == pytest.approx(np.sqrt(np.mean((noisy - truth) ** 2)))
    assert performance_drift("rmse", truth, truth + rng.normal(0, 0.5, 1_000), none, none, 0.5, spec).verdict == (
        "no_drift"
    )


@pytest.mark.parametrize(
    ("loader", "least"), [(load_breast_cancer, 40), (load_wine, 20)], ids=["breast_cancer", "wine"]
)
def test_bundled_datasets_a_random_split_does_not_drift_and_a_biased_one_does(loader, least: int) -> None:
    # GIVEN a bundled scikit-learn dataset: reference = a random half, profiled as validate profiles uploads
    frame: pd.DataFrame = loader(as_frame=True).frame
    names = [c for c in frame.columns if c != "target"]
    rng = np.random.default_rng(0)
    order = rng.permutation(len(frame))
    half = len(frame) // 2
    ref, rest = frame.iloc[order[:half]], frame.iloc[order[half:]]
    contract = _contract(names, ["target"])
    table = pa.Table.from_pandas(ref.assign(target=ref["target"].astype(str), y=0), preserve_index=False)
    profile = profile_table(table, contract)
    spec = MonitoringSpec.model_validate({"min_sample": least})

    def check(current: pd.DataFrame) -> list:
        numeric = {n: current[n].to_numpy(np.float64) for n in names}
        return feature_drift(profile, numeric, {"target": pa.array(current["target"].astype(str))}, spec)

    # WHEN the other half is checked THEN no column drifts
    assert [f.name for f in check(rest) if f.verdict == "drift"] == []
    # WHEN only rows of one class arrive THEN the class share drifts, and so does the dataset
    biased = check(rest[rest["target"] == rest["target"].iloc[0]])
    drifted = {f.name for f in biased if f.verdict == "drift"}
    assert "target" in drifted and len(drifted) >= 3
    assert dataset_drift(biased, 0.1).verdict == "drift"
