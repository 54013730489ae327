"""An A/B experiment through the local cloud as a user runs one: two versions trained by the training machine, v1 in
production and v2 set as the challenger on 20 % of traffic with `slipway aliases set`, 20,000 customers predicted
through the SigV4-signed HTTP API by the CLI's client (500 rows a request, each row routed by its customer id),
ground truth sent on /feedback with v2's predictions right 3 points more often than v1's, and `slipway experiments
show` read back from the lake: the challenger is called better with the true effect inside its interval, and the
HTML report says so."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from slipway_cli import experiments, serving
from slipway_cli.samples import make_churn, to_csv_bytes
from slipway_cli.target import Target
from slipway_local import LocalCloud
from slipway_local.polling import poll
from tests.conftest import ONE_FOREST, spec_variant, upload_and_wait
from tests.statemachines.test_serving_api import json_rows

MODEL = "churn-ab"
CUSTOMERS, BATCH, SPLIT = 20_000, 500, 0.2
ACCURACY = {1: 0.80, 2: 0.83}  # how often each version's predictions turn out right: the effect is +0.03


@pytest.fixture(scope="module")
def split(cloud: LocalCloud, dev: Target) -> dict[str, Any]:
    """churn-ab v1 in production, v2 its challenger on 20 % of traffic."""
    from slipway.stores.specs import push_spec

    push_spec(dev.deps, spec_variant(MODEL, **ONE_FOREST))
    for n, seed in ((1, 5), (2, 6)):
        run = upload_and_wait(cloud, "dev", f"{MODEL}/part-{n}.csv", to_csv_bytes(make_churn(n_rows=2_000, seed=seed)))
        assert run.status == "SUCCEEDED", run.execution.get("cause")
        assert run.output["model"]["version"] == n
    serving.aliases_set(dev, MODEL, "production", 1, reason="first release", expect_previous="none")
    return serving.aliases_set(dev, MODEL, "challenger", 2, reason="A/B: v2 against v1", weight=SPLIT)


def test_a_challenger_three_points_better_is_called_better_through_the_local_api(
    split: dict[str, Any], dev: Target, tmp_path: Path
) -> None:
    # GIVEN 20,000 customers predicted through the API, and feedback for each row: right with its version's accuracy
    rng = np.random.default_rng(21)
    customers = json_rows(CUSTOMERS, seed=77)
    served: list[int] = []
    url = serving.api_url(dev) + f"/v1/models/{MODEL}"
    for k in range(0, CUSTOMERS, BATCH):
        answer = serving.post_json(dev, f"{url}/predict", {"instances": customers[k : k + BATCH]})
        truth = [
            p if rng.random() < ACCURACY[v] else 1 - p
            for p, v in zip(answer["predictions"], answer["versions"], strict=True)
        ]
        feedback = [{"request_id": answer["request_id"], "row": i, "actual": a} for i, a in enumerate(truth)]
        assert serving.post_json(dev, f"{url}/feedback", {"feedback": feedback})["accepted"] == BATCH
        served += answer["versions"]
    assert 0.19 < served.count(2) / CUSTOMERS < 0.21  # routing gave the challenger its share of customers

    # WHEN the capture stream has landed them and the operator asks for the experiment
    def landed() -> tuple[dict[str, Any], Any] | None:
        value, view = experiments.show(dev, MODEL, html=tmp_path / "experiment.html")
        arms = value["analysis"]["arms"]
        return (value, view) if sum(a["labelled"] for a in arms) == CUSTOMERS else None

    value, _ = poll(landed, timeout_s=60, what="the captures and feedback never all landed")
    analysis = value["analysis"]
    champion, challenger = analysis["arms"]
    difference = analysis["comparison"]

    # THEN each variant's traffic is what it served, with no sample-ratio mismatch
    assert (champion["version"], challenger["version"]) == (1, 2)
    assert (champion["rows"], challenger["rows"]) == (served.count(1), served.count(2))
    assert (champion["units"], challenger["units"]) == (served.count(1), served.count(2))  # one row per customer
    assert not analysis["srm"]["flagged"]
    # AND the challenger is called better, the true +0.03 inside the difference's interval, by the z-test
    assert analysis["verdict"] == "challenger better", analysis["reasons"]
    assert difference["test"] == "two-proportion z-test"
    assert difference["low"] < 0.03 < difference["high"]
    assert difference["sequential_low"] < 0.03 < difference["sequential_high"]
    print(
        f"\nlocal API: {CUSTOMERS:,} rows, challenger {challenger['rows']:,}; "
        f"difference {difference['difference']:+.4f}"
        f" [{difference['low']:+.4f}, {difference['high']:+.4f}] p={difference['p_value']:.2g} "
        f"always-valid p={difference['always_valid_p']:.2g}"
    )
    # AND the experiment is listed as running, and the HTML report (self-contained) carries the verdict
    listed, _ = experiments.listing(dev, MODEL)
    assert [(e["number"], e["champion"], e["challenger"], e["weight"], e["status"]) for e in listed] == [
        (1, 1, 2, SPLIT, "running")
    ]
    page = (tmp_path / "experiment.html").read_text()
    assert "challenger better" in page and "two-proportion z-test" in page and "<svg" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing fetched from elsewhere


def test_clearing_the_challenger_ends_the_experiment(split: dict[str, Any], dev: Target) -> None:
    # GIVEN the split above WHEN the challenger is cleared
    serving.aliases_clear(dev, MODEL, "challenger", reason="A/B over")
    # THEN the experiment has ended when the challenger was cleared, and no other has started
    listed, _ = experiments.listing(dev, MODEL)
    assert [(e["number"], e["status"]) for e in listed] == [(1, "ended")]
    assert listed[0]["end"] > listed[0]["start"]
