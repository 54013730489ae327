"""The experiment statistics as an A/B user checks them, on traffic split by slipway's own routing: a challenger
3 points more accurate on a 20 % split of 20,000 labelled rows is called better with the true effect inside its
interval; A/A experiments are almost never called; a 20 % split that served 30 % stops on sample-ratio mismatch;
two experiments' assignments are independent; the sample size matches the textbook formula."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from slipway.domain.experiments import VariantData, analyse, compare, row_outcomes, sample_ratio
from slipway.serving.routing import Routing
from slipway.spec.experiment import ExperimentSpec

SPEC = ExperimentSpec()


def stream(
    rng: np.random.Generator, routing: Routing, n: int, accuracy: dict[str, float], served: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` labelled one-row requests in arrival order: each one's variant, assigned by ``routing`` (or, ``served``
    given, by a broken coin at that share), and whether its prediction was right (its variant's ``accuracy``)."""
    if served is None:
        names = np.array([routing.choose(f"req-{rng.integers(2**62)}").name for _ in range(n)])
    else:
        names = np.where(rng.random(n) < served, "challenger", "production")
    chance = np.where(names == "challenger", accuracy["challenger"], accuracy["production"])
    truth = rng.integers(0, 2, n)
    predicted = np.where(rng.random(n) < chance, truth, 1 - truth)
    return names, row_outcomes("accuracy", truth, predicted)


def split(routing: Routing, names: np.ndarray, right: np.ndarray) -> tuple[VariantData, VariantData]:
    """What each variant served, as the experiment reader gives it."""
    versions = {"production": routing.production, "challenger": routing.challenger}
    out = []
    for name in ("production", "challenger"):
        mine = right[names == name]
        out.append(VariantData(name, int(versions[name] or 0), mine.size, mine.size, mine.size, 0, {"accuracy": mine}))
    return out[0], out[1]


def simulate(
    rng: np.random.Generator, routing: Routing, n: int, accuracy: dict[str, float], served: float | None = None
) -> tuple[VariantData, VariantData]:
    return split(routing, *stream(rng, routing, n, accuracy, served))


def test_a_challenger_three_points_better_on_a_20_percent_split_is_called_better() -> None:
    # GIVEN 20,000 labelled requests split 80/20 by the routing; champion 80 % accurate, challenger 83 %
    routing = Routing("churn", 1, 2, 0.2)
    champion, challenger = simulate(
        np.random.default_rng(21), routing, 20_000, {"production": 0.80, "challenger": 0.83}
    )
    # WHEN analysed
    found = analyse(champion, challenger, 0.2, SPEC, "accuracy")
    # THEN the challenger is better, the true +0.03 is inside the difference's 95 % interval, by a z-test
    c = found.comparison
    assert found.verdict == "challenger better", found.reasons
    assert c.low is not None and c.high is not None and c.low < 0.03 < c.high
    assert c.test == "two-proportion z-test" and c.p_value is not None and c.p_value < 0.001
    # AND the traffic is what the split gave, with no sample-ratio mismatch
    assert 0.19 < challenger.rows / 20_000 < 0.21 and not found.srm.flagged
    champ_arm, chall_arm = found.arms
    assert champ_arm.low is not None and champ_arm.high is not None and champ_arm.low < 0.80 < champ_arm.high
    assert chall_arm.low is not None and chall_arm.high is not None and chall_arm.low < 0.83 < chall_arm.high
    print(f"\nknown effect: {c.difference:+.4f} [{c.low:+.4f}, {c.high:+.4f}] p={c.p_value:.2g}")


def test_a_versus_a_is_not_called_in_at_least_95_percent_of_200_runs_even_when_looked_at_often() -> None:
    # GIVEN 200 A/A experiments (both variants 80 % accurate), each 5,000 labelled rows on a 20 % split of its own
    # salt, and an operator who opens the report after every 500 rows (ten looks)
    rng = np.random.default_rng(2026)
    called_at_end = called_at_any_look = srm = fixed_at_end = fixed_at_any_look = 0
    for run in range(200):
        routing = Routing("aa", 1, run + 2, 0.2)
        names, right = stream(rng, routing, 5_000, {"production": 0.8, "challenger": 0.8})
        looks = [analyse(*split(routing, names[:m], right[:m]), 0.2, SPEC, "accuracy") for m in range(500, 5_001, 500)]
        verdicts = [look.verdict for look in looks]
        fixed = [(look.comparison.p_value or 1.0) < 0.05 for look in looks]  # what a fixed-sample z-test would call
        fixed_at_end += fixed[-1]
        fixed_at_any_look += any(fixed)
        better = [v in ("challenger better", "champion better") for v in verdicts]
        called_at_end += better[-1]
        called_at_any_look += any(better)
        srm += verdicts[-1] == "stop: SRM"
    print(
        f"\nA/A: called at the end {called_at_end}/200, at any of 10 looks {called_at_any_look}/200; SRM {srm}; "
        f"the fixed-sample z-test alone: {fixed_at_end}/200 at the end, {fixed_at_any_look}/200 at any look"
    )
    # THEN at most 5 % are ever called better either way, at the end or at any look, and SRM is as rare as chance
    assert called_at_end <= 10 and called_at_any_look <= 10
    assert srm <= 2


def test_a_20_percent_split_served_30_percent_stops_on_sample_ratio_mismatch() -> None:
    # GIVEN a split configured at 20 % whose challenger got 30 % of 20,000 units (and is even more accurate)
    routing = Routing("churn", 1, 2, 0.2)
    champion, challenger = simulate(
        np.random.default_rng(3), routing, 20_000, {"production": 0.8, "challenger": 0.83}, served=0.3
    )
    # WHEN analysed THEN it stops on SRM: the outcome is not trusted
    found = analyse(champion, challenger, 0.2, SPEC, "accuracy")
    assert found.verdict == "stop: SRM" and found.srm.flagged
    assert found.srm.p_value is not None and found.srm.p_value < 1e-100
    assert "sample ratio mismatch" in found.reasons[0]
    print(f"\nSRM: served {found.srm.observed_share:.2%}, χ² {found.srm.chi2:.1f}, p={found.srm.p_value:.3g}")
    # AND a small wobble around the split is not flagged
    assert not sample_ratio(8_050, 1_950, 0.2).flagged


def test_two_experiments_on_one_model_assign_independently() -> None:
    # GIVEN two experiments on one model (different challengers and weights: independent salts)
    first, second = Routing("churn", 1, 2, 0.2), Routing("churn", 1, 3, 0.5)
    ids = [f"customer-{n}" for n in range(100_000)]
    # WHEN 100,000 ids are assigned by each
    a = np.array([first.choose(i).name == "challenger" for i in ids])
    b = np.array([second.choose(i).name == "challenger" for i in ids])
    table = np.array([[np.sum(~a & ~b), np.sum(~a & b)], [np.sum(a & ~b), np.sum(a & b)]])
    # THEN the 2×2 table of assignments is independent within sampling error (χ² test), each split as configured
    result = stats.chi2_contingency(table, correction=False)
    print(f"\northogonality: table {table.tolist()}, χ² {result.statistic:.2f}, p={result.pvalue:.3f}")
    assert result.pvalue > 0.01
    assert abs(a.mean() - 0.2) < 0.005 and abs(b.mean() - 0.5) < 0.005
    # AND the share of the second's challenger is the same among the first's challenger ids as among the rest
    assert abs(b[a].mean() - b[~a].mean()) < 0.015


def test_sample_size_and_mde_follow_the_normal_approximation() -> None:
    # GIVEN a champion at 80 % accuracy and a planned effect of 2 points on a 20 % split
    rng = np.random.default_rng(5)
    a, b = (rng.random(16_000) < 0.8).astype(float), (rng.random(4_000) < 0.8).astype(float)
    c = compare(a, b, "binary", alpha=0.05, power=0.8, weight=0.2, mde=0.02)
    # THEN the total needed is (z.975 + z.8)² p(1-p) (1/w + 1/(1-w)) / mde², and the MDE now is what 20,000 detect
    p = (a.sum() + b.sum()) / 20_000
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert c.needed == pytest.approx(z**2 * p * (1 - p) * (1 / 0.2 + 1 / 0.8) / 0.02**2, abs=1)
    assert c.mde_now == pytest.approx(z * np.sqrt(p * (1 - p) * (1 / 16_000 + 1 / 4_000)), rel=1e-9)
    assert c.still_needed == max(0, (c.needed or 0) - 20_000)


def test_continuous_outcomes_use_welch_and_lower_is_better_for_a_loss() -> None:
    # GIVEN log loss per row: the challenger's probabilities of the true class are higher
    rng = np.random.default_rng(8)
    champion = row_outcomes("log_loss", np.zeros(3000), np.zeros(3000), p_true=rng.uniform(0.5, 0.9, 3000))
    challenger = row_outcomes("log_loss", np.zeros(800), np.zeros(800), p_true=rng.uniform(0.6, 0.95, 800))
    data = [
        VariantData(v, n, x.size, x.size, x.size, 0, {"log_loss": x})
        for v, n, x in (("production", 1, champion), ("challenger", 2, challenger))
    ]
    found = analyse(data[0], data[1], 0.2, SPEC, "log_loss")
    # THEN Welch's t-test, its interval equal to scipy's, and a lower loss makes the challenger better
    expected = stats.ttest_ind(challenger, champion, equal_var=False)
    assert found.comparison.test == "Welch's t-test"
    assert found.comparison.p_value == pytest.approx(expected.pvalue)
    assert found.verdict == "challenger better" and found.comparison.difference < 0  # type: ignore[operator]


def test_a_challenger_that_fails_more_rows_breaks_the_error_rate_guardrail() -> None:
    # GIVEN a more accurate challenger that failed 3 % of its rows (the champion none)
    rng = np.random.default_rng(9)
    champion = VariantData("production", 1, 8000, 8000, 8000, 0, {"accuracy": (rng.random(8000) < 0.8) * 1.0})
    challenger = VariantData("challenger", 2, 2000, 2000, 2000, 60, {"accuracy": (rng.random(1940) < 0.9) * 1.0})
    found = analyse(champion, challenger, 0.2, SPEC, "accuracy")
    # THEN the champion is called better, for the guardrail
    assert found.verdict == "champion better"
    assert found.guardrails[0].metric == "error_rate" and found.guardrails[0].breached
    assert "guardrail error_rate" in found.reasons[0]


def test_too_little_feedback_keeps_running() -> None:
    rng = np.random.default_rng(1)
    champion = VariantData("production", 1, 400, 400, 400, 0, {"accuracy": (rng.random(80) < 0.5) * 1.0})
    challenger = VariantData("challenger", 2, 100, 100, 100, 0, {"accuracy": np.ones(20)})
    found = analyse(champion, challenger, 0.2, SPEC, "accuracy")
    assert found.verdict == "keep running" and "100 each are needed" in found.reasons[0]
