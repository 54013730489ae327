"""Feature views in the local cloud, as their users meet them: a view's spec pushed with `slipway features push`
(the operate route, in the caller's name), its data uploaded and materialised by the materialise machine, a model
trained on labels joined to it as of each label's time, then served over HTTP by entity — the same prediction as a
request carrying every feature, the view's rule for an entity it does not know, the fetched values in the captures."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from slipway import layout
from slipway.stores.registry import ModelRegistry
from slipway.stores.specs import push_spec
from slipway_cli import features, serving
from slipway_cli.target import Target
from slipway_local import LocalCloud
from slipway_local.polling import poll
from tests.conftest import upload_and_wait
from tests.unit.steps.test_feature_views import MODEL, VIEW

NOW = datetime.now(UTC).replace(microsecond=0)
CUSTOMERS = 300


def _csv(frame: pd.DataFrame) -> bytes:
    out = frame.copy()
    for col in out.columns:
        if isinstance(out[col].iloc[0], datetime):
            out[col] = [v.isoformat() for v in out[col]]
    return out.to_csv(index=False).encode()


def _world(seed: int = 9) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Labels asked 12 to 27 days ago; each customer's signal before its label says the label, a value
    stamped after it is noise (as in the unit test), and the newest values are all within the 30-day TTL now."""
    rng = np.random.default_rng(seed)
    ids = [f"C{n:04d}" for n in range(CUSTOMERS)]
    renewed = rng.random(CUSTOMERS) < 0.5
    asked = [
        NOW - timedelta(days=int(d) + 12, hours=int(h))
        for d, h in zip(rng.integers(0, 15, CUSTOMERS), rng.integers(0, 24, CUSTOMERS), strict=True)
    ]
    labels = pd.DataFrame(
        {"customer_id": ids, "asked_at": asked, "plan": rng.choice(["basic", "pro"], CUSTOMERS), "renewed": renewed}
    )
    columns = ["customer_id", "event_time", "signal", "visits"]
    before = pd.DataFrame(
        [
            (
                c,
                a - timedelta(days=int(rng.integers(1, 10))),
                (1.0 if y else -1.0) + rng.normal(0, 0.3),
                int(rng.integers(1, 9)),
            )
            for c, a, y in zip(ids, asked, renewed, strict=True)
        ],
        columns=columns,
    )
    after = pd.DataFrame(
        [
            (c, a + timedelta(days=int(rng.integers(1, 10))), float(rng.normal()), int(rng.integers(0, 9)))
            for c, a in zip(ids, asked, strict=True)
        ],
        columns=columns,
    )
    return labels, before, after


@pytest.fixture(scope="module")
def served(cloud: LocalCloud, dev: Target, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    labels, before, after = _world()
    folder = tmp_path_factory.mktemp("views")
    pushed, _ = features.push(dev, VIEW, "the renewals model's activity")
    assert pushed["view"] == "activity" and pushed["new"]
    (folder / "after.csv").write_bytes(_csv(after))
    (folder / "before.csv").write_bytes(_csv(before))
    # the newer values arrive first, the older ones later: the online store keeps the newer
    first, _ = features.materialise(dev, "activity", folder / "after.csv")
    second, _ = features.materialise(dev, "activity", folder / "before.csv")
    push_spec(dev.deps, MODEL)
    run = upload_and_wait(cloud, "dev", "renewals/labels.csv", _csv(labels))
    assert run.status == "SUCCEEDED", run.execution.get("cause")
    model = run.output["model"]
    serving.aliases_set(dev, "renewals", "production", model["version"], reason="serve", expect_previous="none")
    return {"first": first, "second": second, "model": model, "labels": labels, "before": before, "after": after}


def _call(cloud: LocalCloud, url: str, body: Any) -> tuple[int, Any]:
    data = json.dumps(body).encode()
    headers = cloud.signed_headers("dev", "POST", url, data, {"Content-Type": "application/json"})
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_each_upload_is_a_view_version_and_the_older_one_changes_nothing_online(
    served: dict[str, Any], dev: Target
) -> None:
    first, second = served["first"], served["second"]
    assert (first["status"], first["view_version"], first["outcome"]) == ("SUCCEEDED", 1, "materialised")
    assert (second["status"], second["view_version"]) == ("SUCCEEDED", 2)
    after = served["after"]
    rows, _ = features.get(dev, "activity", list(after["customer_id"][:5]))
    for row, (_, expected) in zip(rows, after.head(5).iterrows(), strict=True):
        assert row["found"] and row["version"] == 1  # the older upload (version 2) wrote nothing over them
        assert row["values"] == {"signal": float(expected.signal), "visits": int(expected.visits)}
    listed, _ = features.views_list(dev)
    assert {v["view"]: v["latest_version"] for v in listed}["activity"] == 2  # (other files push views of their own)


def test_the_model_trained_on_values_as_of_each_label(served: dict[str, Any], dev: Target) -> None:
    version = ModelRegistry.of(dev.deps).get_version("renewals", served["model"]["version"])
    assert version["test_metrics"]["roc_auc"] > 0.9  # the later noise would give about 0.5
    assert version["views"][0]["view"] == "activity" and version["views"][0]["version"] == 2


def test_an_entity_alone_gets_the_prediction_of_the_full_row(
    served: dict[str, Any], cloud: LocalCloud, dev: Target, dev_api_url: str
) -> None:
    url = f"{dev_api_url}/v1/models/renewals/predict"
    after = served["after"].head(20)
    by_entity = [{"customer_id": c, "plan": "pro"} for c in after["customer_id"]]
    full = [
        {"customer_id": c, "plan": "pro", "signal": float(s), "visits": int(v)}
        for c, s, v in zip(after["customer_id"], after["signal"], after["visits"], strict=True)
    ]
    status, entity_answer = _call(cloud, url, {"instances": by_entity})
    assert status == 200, entity_answer
    status, full_answer = _call(cloud, url, {"instances": full})
    assert status == 200, full_answer
    assert entity_answer["probabilities"] == full_answer["probabilities"]
    # the capture holds the values the model saw: the fetched ones
    s3, lake = cloud.client("s3", "dev"), dev.outputs["LakeBucketName"]

    def captured() -> list[dict[str, Any]] | None:
        keys = [
            o["Key"] for o in s3.list_objects_v2(Bucket=lake, Prefix=layout.captures_of("renewals")).get("Contents", [])
        ]
        found = [
            json.loads(line)
            for key in keys
            for line in s3.get_object(Bucket=lake, Key=key)["Body"].read().decode().splitlines()
            if line.strip()
        ]
        mine = [r for r in found if r.get("request_id") == entity_answer["request_id"]]
        return mine if len(mine) == len(by_entity) else None

    records = sorted(poll(captured, timeout_s=20, what="no captures of the request"), key=lambda r: r["row"])
    assert [r["inputs"]["signal"] for r in records] == [r["signal"] for r in full]


def test_an_unknown_entity_is_a_422_naming_it_and_the_feature(
    served: dict[str, Any], cloud: LocalCloud, dev_api_url: str
) -> None:
    status, answer = _call(
        cloud, f"{dev_api_url}/v1/models/renewals/predict", {"instances": [{"customer_id": "C9999", "plan": "basic"}]}
    )
    assert status == 422, answer
    fields = {(e["field"], e["check"]) for e in answer["errors"]}
    assert fields == {("signal", "view"), ("visits", "view")}
    assert "'C9999'" in answer["errors"][0]["message"]


def test_a_view_upload_that_breaks_its_contract_is_quarantined(
    served: dict[str, Any], dev: Target, tmp_path: Path
) -> None:
    bad = served["before"].head(10).copy()
    bad.loc[2, "visits"] = -1
    path = tmp_path / "bad.csv"
    path.write_bytes(_csv(bad))
    result, _ = features.materialise(dev, "activity", path)
    assert result["status"] == "FAILED" and result["error_type"] == "DataContractViolation"
    assert "visits: min x1" in result["error_message"]
    listed, _ = features.views_list(dev)
    assert {v["view"]: v["latest_version"] for v in listed}["activity"] == 2  # no version made


def test_the_console_shows_the_view_its_versions_and_where_it_fed_a_model(served: dict[str, Any], dev: Target) -> None:
    from html import unescape

    from slipway_cli.console.server import running

    def get(url: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                return response.status, unescape(response.read().decode())
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    with running({"dev": dev}) as url:
        status, listing = get(f"{url}/env/dev/views")
        assert status == 200 and 'href="/env/dev/views/activity"' in listing and "customer_id" in listing
        status, page = get(f"{url}/env/dev/views/activity")
        assert status == 200 and "engagement score" in page
        for run in (served["first"]["run_id"], served["second"]["run_id"]):
            assert f'href="/env/dev/runs/{run}"' in page
        status, version = get(f"{url}/env/dev/models/renewals/versions/{served['model']['version']}")
        assert status == 200 and "activity v2" in version  # the view version is a node of the lineage graph
