"""The canary's judgement, pure: PSI finds a shifted score distribution and not a resampled one, p99 is the
nearest rank, feedback joins by request id and row (or entity), and each rollback criterion fails on its
own with a message that says what it saw."""

from __future__ import annotations

import random
from typing import Any

import pytest

from slipway.domain.canary import Served, judge, p99, served_rows, variant_stats
from slipway.domain.stability import psi
from slipway.spec.deployment import DeploymentSpec


def scores(n: int, seed: int, shift: float = 0.0) -> list[float]:
    rng = random.Random(seed)
    return [min(1.0, max(0.0, rng.betavariate(2, 5) + shift)) for _ in range(n)]


def served(variant: str, values: list[float], *, latency: float = 2.0, errors: int = 0) -> list[Served]:
    version = 2 if variant == "challenger" else 1
    rows = [
        Served(variant, version, f"{variant}-{n}", 0, f"{variant}-C{n:06d}", int(v > 0.5), v, latency, None, "t")
        for n, v in enumerate(values)
    ]
    rows += [Served(variant, version, f"{variant}-e{n}", 0, None, None, None, latency, "X", "t") for n in range(errors)]
    return rows


def test_psi_is_near_zero_for_the_same_population_and_large_for_a_shifted_one() -> None:
    reference = scores(5_000, 1)
    assert psi(reference, scores(1_000, 2)) < 0.05
    assert psi(reference, scores(1_000, 3, shift=0.3)) > 1.0
    assert psi([0.5] * 100, [0.5] * 50) == pytest.approx(0.0)
    assert psi([0.5] * 100, [0.9] * 50) > 5
    with pytest.raises(ValueError):
        psi([], [1.0])


def test_p99_is_the_nearest_rank() -> None:
    assert p99(list(range(1, 101))) == 99
    assert p99([5.0]) == 5.0
    assert p99([]) is None


def test_served_rows_keep_the_window_and_skip_what_is_not_a_capture() -> None:
    records: list[dict[str, Any]] = [
        {"kind": "captures", "variant": "challenger", "version": 2, "request_id": "a", "row": 0, "prediction": 1,
         "probabilities": {"0": 0.3, "1": 0.7}, "latency_ms": 1.5, "at": "2026-11-25T10:00:01+00:00"},
        {"kind": "captures", "variant": "challenger", "version": 2, "request_id": "b", "row": 0,
         "error": "ArtifactIntegrityError", "latency_ms": 0.5, "at": "2026-11-25T10:00:02+00:00"},
        {"kind": "captures", "variant": "production", "version": 1, "request_id": "c", "row": 0, "prediction": 4.5,
         "at": "2026-11-25T09:59:59+00:00"},  # before the window
        {"kind": "feedback", "request_id": "a", "actual": 1, "at": "2026-11-25T10:00:03+00:00"},
        {"kind": "captures", "variant": "production", "at": "2026-11-25T10:00:04+00:00"},  # malformed
    ]  # fmt: skip
    rows = served_rows(records, "2026-11-25T10:00:00+00:00", "2026-11-25T11:00:00+00:00")
    assert [(r.request_id, r.score, r.error) for r in rows] == [("a", 0.7, None), ("b", None, "ArtifactIntegrityError")]


def test_a_healthy_canary_passes_every_check() -> None:
    spec = DeploymentSpec.model_validate({"min_canary_rows": 100})
    verdict = judge(spec, variant_stats("production", served("production", scores(900, 1))),
                    variant_stats("challenger", served("challenger", scores(200, 2))))  # fmt: skip
    assert verdict.healthy and verdict.reasons == []
    assert [c.name for c in verdict.checks] == ["traffic", "error_rate", "p99_latency_ms", "prediction_shift"]


@pytest.mark.parametrize(
    ("challenger", "rules", "reason"),
    [
        (served("challenger", scores(50, 2)), {}, "the challenger served 50 rows in the bake window; at least 100"),
        (served("challenger", scores(200, 2), errors=10), {}, "error rate 4.76% (10 of 210 rows failed) over"),
        (served("challenger", scores(200, 2), latency=400), {}, "p99 latency 400.0 ms over the ceiling 250 ms"),
        (served("challenger", scores(200, 2, shift=0.3)), {}, "prediction shift (PSI)"),
        (served("challenger", scores(200, 2), errors=10), {"max_error_rate": 0.05}, None),
        (served("challenger", scores(200, 2), latency=400), {"max_p99_latency_ms": None}, None),
        (served("challenger", scores(200, 2, shift=0.3)), {"max_prediction_shift": None}, None),
    ],
)
def test_each_criterion_rolls_back_on_its_own(
    challenger: list[Served], rules: dict[str, Any], reason: str | None
) -> None:
    spec = DeploymentSpec.model_validate({"min_canary_rows": 100, "rollback": rules})
    verdict = judge(spec, variant_stats("production", served("production", scores(900, 1))),
                    variant_stats("challenger", challenger))  # fmt: skip
    if reason is None:
        assert verdict.healthy, verdict.reasons
    else:
        assert not verdict.healthy and len(verdict.reasons) == 1 and verdict.reasons[0].startswith(reason), (
            verdict.reasons
        )


def test_the_online_metric_is_judged_only_from_its_minimum_sample() -> None:
    spec = DeploymentSpec.model_validate(
        {
            "min_canary_rows": 100,
            "rollback": {"online_metric": {"metric": "accuracy", "max_drop": 0.05, "min_samples": 50}},
        }
    )
    champion_rows, challenger_rows = served("production", scores(300, 1)), served("challenger", scores(150, 2))
    # feedback: the champion right on every row, the challenger right on 60 % (by request id, or by entity id)
    feedback = [{"request_id": r.request_id, "row": 0, "actual": r.prediction} for r in champion_rows]
    feedback += [
        {"entity_id": r.entity_id, "actual": r.prediction if n % 5 < 3 else 1 - r.prediction}
        for n, r in enumerate(challenger_rows)
    ]
    champion = variant_stats("production", champion_rows, feedback, "accuracy")
    challenger = variant_stats("challenger", challenger_rows, feedback, "accuracy")
    assert (champion.labelled, champion.online, challenger.labelled, challenger.online) == (300, 1.0, 150, 0.6)
    verdict = judge(spec, champion, challenger)
    assert verdict.reasons == [
        "online accuracy 0.6000 vs the champion's 1.0000 on feedback (150 and 300 rows): worse by 0.4000, over the "
        "allowed 0.05"
    ]
    # WITH too little feedback the metric is not judged, and the canary stays healthy
    few = variant_stats("challenger", challenger_rows, feedback[300:330], "accuracy")
    unjudged = judge(spec, champion, few)
    assert unjudged.healthy and unjudged.checks[-1].passed is None
    assert "not judged: 30 challenger and 300 champion rows have feedback, 50 each are needed" in (
        unjudged.checks[-1].message
    )


def multiclass(variant: str, n: int, seed: int, shares: tuple[float, float, float]) -> list[Served]:
    """Rows of a three-class model whose probabilities of setosa/versicolor/virginica centre on ``shares``."""
    rng = random.Random(seed)
    rows = []
    for k in range(n):
        raw = [max(1e-3, s + rng.gauss(0, 0.05)) for s in shares]
        total = sum(raw)
        probabilities = dict(zip(("setosa", "versicolor", "virginica"), (r / total for r in raw), strict=True))
        label = max(probabilities, key=lambda c: probabilities[c])
        rows.append(
            Served(
                variant, 1, f"{variant}-{k}", 0, None, label, probabilities["virginica"], 2.0, None, "t", probabilities
            )
        )
    return rows


def test_a_multiclass_shift_between_two_classes_that_leaves_the_last_alone_is_caught() -> None:
    # GIVEN a three-class champion, and a challenger that swaps the first two classes' probabilities,
    # so P(virginica), the last class, is distributed as before
    spec = DeploymentSpec.model_validate({"min_canary_rows": 50, "rollback": {"max_prediction_shift": 0.25}})
    champion = variant_stats("production", multiclass("production", 400, 1, (0.7, 0.2, 0.1)))
    swapped = variant_stats("challenger", multiclass("challenger", 400, 2, (0.2, 0.7, 0.1)))
    alike = variant_stats("challenger", multiclass("challenger", 400, 3, (0.7, 0.2, 0.1)))

    # THEN the swap is judged on each class's probability and fails, naming the class; a resample passes
    assert psi(champion.scores, swapped.scores) < 0.25  # what P(last class) alone would have said
    verdict = judge(spec, champion, swapped)
    assert not verdict.healthy
    [shift] = [c for c in verdict.checks if c.name == "prediction_shift"]
    assert shift.value is not None and shift.value > 1.0
    assert "PSI of P(setosa)" in shift.message or "PSI of P(versicolor)" in shift.message
    assert judge(spec, champion, alike).healthy
