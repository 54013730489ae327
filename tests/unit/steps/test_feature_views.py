"""Feature views on the fakes: materialisation (offline history, online newest-wins, quarantine, replays), the
point-in-time join of labels (no leakage, TTL), and serving by entity (same answer as the full row, the view's rule
for a missing entity, captures hold the values the model saw)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from slipway import layout
from slipway.domain.feature_views import VERSION_COLUMN, as_of_join
from slipway.errors import DataContractViolation, SpecError
from slipway.objects import S3Object
from slipway.ports import Deps
from slipway.serving.service import InferenceService, InvalidRequest
from slipway.steps.features.materialise_view import materialise_view
from slipway.stores.feature_views import history, latest_version, push_view
from slipway.stores.registry import ModelRegistry
from slipway.stores.specs import push_spec
from tests.fakes import FakeCaptureSink, FakeOnlineStore, ManualClock, fake_deps, fork
from tests.unit.steps.support import run_pipeline, upload

VIEW = """
name: activity
description: What each customer did lately.
entity: [customer_id]
timestamp: event_time
ttl: 30d
columns:
  - {name: customer_id, type: string}
  - {name: event_time, type: timestamp}
  - {name: signal, type: float, nullable: true, description: engagement score}
  - {name: visits, type: int, nullable: true, min: 0, description: visits in the last week}
"""

MODEL = """
name: renewals
data:
  target: renewed
  timestamp: asked_at
  entity_id: customer_id
  min_rows: 50
  columns:
    - {name: customer_id, type: string}
    - {name: asked_at, type: timestamp}
    - {name: plan, type: category, allowed: [basic, pro]}
    - {name: signal, type: float, nullable: true, view: activity}
    - {name: visits, type: int, nullable: true, view: activity}
    - {name: renewed, type: bool}
features:
  exclude: [asked_at]
  transforms:
    - {kind: standardize, columns: [signal, visits]}
    - {kind: one_hot, columns: [plan]}
training:
  task: classification
  metric: roc_auc
  seed: 3
  split: {method: random, seed: 3, valid: 0.2, test: 0.25}
  candidates:
    - algorithm: logistic_regression
      grid: {C: [1.0]}
"""

START = datetime(2026, 3, 1, tzinfo=UTC)
CUSTOMERS = 400


def _world(seed: int = 5) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Labels and two uploads of the view. Before each label's time the customer's signal says its label (with a
    little noise); after it, a later upload brings pure noise; a third of the customers have, before their label,
    only a value older than the 30-day TTL, which says the opposite. A join that looked past the label's time, or
    past the TTL, would train on noise or on the opposite."""
    rng = np.random.default_rng(seed)
    ids = [f"C{n:04d}" for n in range(CUSTOMERS)]
    renewed = rng.random(CUSTOMERS) < 0.5
    asked = [
        START + timedelta(days=int(d), hours=int(h))
        for d, h in zip(rng.integers(0, 60, CUSTOMERS), rng.integers(0, 24, CUSTOMERS), strict=True)
    ]
    stale = rng.random(CUSTOMERS) < 1 / 3
    labels = pd.DataFrame(
        {"customer_id": ids, "asked_at": asked, "plan": rng.choice(["basic", "pro"], CUSTOMERS), "renewed": renewed}
    )
    before, after = [], []
    for n, cid in enumerate(ids):
        sign = 1.0 if renewed[n] else -1.0
        if stale[n]:
            before.append((cid, asked[n] - timedelta(days=45), -sign, 1))
        else:
            before.append(
                (
                    cid,
                    asked[n] - timedelta(days=int(rng.integers(1, 20))),
                    sign + rng.normal(0, 0.3),
                    int(rng.integers(2, 9)),
                )
            )
        after.append(
            (cid, asked[n] + timedelta(days=int(rng.integers(1, 10))), float(rng.normal()), int(rng.integers(0, 9)))
        )
    columns = ["customer_id", "event_time", "signal", "visits"]
    return labels, pd.DataFrame(before, columns=columns), pd.DataFrame(after, columns=columns)


def _csv(frame: pd.DataFrame) -> bytes:
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]) or isinstance(out[col].iloc[0], datetime):
            out[col] = [v.isoformat() for v in out[col]]
    return out.to_csv(index=False).encode()


def _materialise(deps: Deps, name: str, frame: pd.DataFrame, run_id: str) -> dict[str, Any]:
    return materialise_view(deps, upload(deps, f"views/activity/{name}", _csv(frame)), run_id)


def _expected_as_of(labels: pd.DataFrame, rows: pd.DataFrame, ttl: timedelta) -> list[float | None]:
    """The as-of value of each label row, by brute force."""
    out: list[float | None] = []
    for cid, at in zip(labels["customer_id"], labels["asked_at"], strict=True):
        mine = rows[(rows.customer_id == cid) & (rows.event_time <= at) & (rows.event_time >= at - ttl)]
        out.append(None if mine.empty else float(mine.sort_values("event_time").iloc[-1]["signal"]))
    return out


@pytest.fixture(scope="module")
def world() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    return _world()


@pytest.fixture(scope="module")
def trained(world: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> Deps:
    labels, before, after = world
    deps = fake_deps()
    push_view(deps, VIEW)
    push_spec(deps, MODEL)
    _materialise(deps, "before.csv", before, "m-1")
    _materialise(deps, "after.csv", after, "m-2")
    run_pipeline(deps, "r-1", "renewals/labels.csv", _csv(labels), until="register")
    return deps


def _curated(deps: Deps) -> pa.Table:
    dataset = next(iter(deps.table.query(*layout.datasets("renewals"))))
    return pq.read_table(io.BytesIO(deps.store.get_bytes(S3Object.parse(str(dataset["curated_uri"])))))


def test_each_training_row_gets_the_value_as_of_its_time_and_never_a_later_one(trained: Deps, world: Any) -> None:
    labels, before, after = world
    curated = _curated(trained).to_pandas()
    expected = _expected_as_of(labels, pd.concat([before, after]), timedelta(days=30))
    got = dict(zip(curated["customer_id"], curated["signal"], strict=True))
    for cid, value in zip(labels["customer_id"], expected, strict=True):
        if value is None:
            assert pd.isna(got[cid]), cid
        else:
            assert got[cid] == value, cid  # bit for bit: the history's float, taken, not recomputed
    # a third of the customers only had a value older than the TTL: null, not the stale opposite
    assert 100 < curated["signal"].isna().sum() < 170
    version = ModelRegistry.of(trained).get_version("renewals", 1)
    # the as-of values say the label: a leaky join (the later noise) or a stale one (the opposite) could not do this
    assert version["test_metrics"]["roc_auc"] > 0.9
    assert version["views"][0] | {"version": 2} == {
        "view": "activity",
        "entity": ["customer_id"],
        "ttl_s": 30 * 86400,
        "missing": "reject",
        "features": {"signal": None, "visits": None},
        "version": 2,
        "spec_version": version["views"][0]["spec_version"],
    }


def test_a_leaky_join_would_change_the_metric(world: Any) -> None:
    # GIVEN the same labels joined to the newest value of each customer whatever its time (what leakage looks like)
    labels, before, after = world
    newest = pd.concat([before, after]).sort_values("event_time").groupby("customer_id").last()["signal"]
    leaky = labels["customer_id"].map(newest)
    honest = pd.Series(_expected_as_of(labels, pd.concat([before, after]), timedelta(days=30)), dtype=float)
    from sklearn.metrics import roc_auc_score

    # THEN the leaked feature says nothing of the label, the honest one nearly everything (where it exists)
    assert abs(roc_auc_score(labels["renewed"], leaky) - 0.5) < 0.1
    known = honest.notna()
    assert roc_auc_score(labels["renewed"][known], honest[known]) > 0.95


def test_lineage_and_run_record_which_view_version_fed_the_dataset(trained: Deps) -> None:
    dataset = next(iter(trained.table.query(*layout.datasets("renewals"))))
    assert [v["version"] for v in dataset["views"]] == [2]
    node = f"dataset:renewals:{dataset['version']}"
    inbound = trained.table.query(*layout.edges(node, "in"))
    assert {"view:activity:2"} <= {e["other"] for e in inbound}
    view_run = trained.table.get(*layout.run_key("m-2"))
    assert view_run is not None and view_run["status"] == "SUCCEEDED" and view_run["view_version"] == 2
    raw_edges = trained.table.query(*layout.edges("view:activity:2", "in"))
    assert any(e["other"].startswith("raw:s3://") and e["kind"] == "materialised_into" for e in raw_edges)


def _online(deps: Deps) -> dict[str, tuple[int, dict[str, Any]]]:
    store = deps.online
    assert isinstance(store, FakeOnlineStore)
    return {k: (r.event_us, json.loads(r.values)) for k, r in store.records.items()}


def test_uploads_in_either_order_and_replayed_leave_the_online_store_at_the_newest_values(world: Any) -> None:
    _, before, after = world
    in_order, reversed_order = fake_deps(), fake_deps()
    for deps in (in_order, reversed_order):
        push_view(deps, VIEW)
    _materialise(in_order, "before.csv", before, "a-1")
    _materialise(in_order, "after.csv", after, "a-2")
    newest = _online(in_order)
    _materialise(reversed_order, "after.csv", after, "b-1")
    assert _online(reversed_order) == newest
    older = _materialise(reversed_order, "before.csv", before, "b-2")
    assert older["written"] == 0 and _online(reversed_order) == newest  # an older upload changes nothing online
    replay = _materialise(in_order, "after-again.csv", after, "a-3")  # the same rows again, under another name
    assert replay == {"view": "activity", "version": 2, "new": False, "written": 0, "rows": CUSTOMERS}
    assert _online(in_order) == newest
    assert latest_version(in_order, "activity")["version"] == 2  # type: ignore[index]
    # the newest values are the later upload's, to the bit
    first = after.iloc[0]
    event_us, values = newest[layout.online_key("activity", first.customer_id)]
    assert values == {"signal": float(first.signal), "visits": int(first.visits)}
    assert event_us == int(first.event_time.timestamp()) * 1_000_000
    # and offline, both orders hold the same history
    assert history(in_order, "activity", 2).num_rows == history(reversed_order, "activity", 2).num_rows == 2 * CUSTOMERS


def test_a_bad_view_upload_is_quarantined_with_its_report(world: Any) -> None:
    _, before, _ = world
    deps = fake_deps()
    push_view(deps, VIEW)
    bad = before.copy()
    bad.loc[3, "visits"] = -4
    with pytest.raises(DataContractViolation, match="visits: min x1"):
        _materialise(deps, "bad.csv", bad, "q-1")
    report = deps.store.get_json(layout.view_quarantine_report(deps.settings.lake_bucket, "activity", "q-1"))
    assert report["failures"][0]["column"] == "visits" and report["failures"][0]["check"] == "min"
    assert latest_version(deps, "activity") is None and _online(deps) == {}
    with pytest.raises(SpecError, match="no feature view 'other'"):
        materialise_view(deps, upload(deps, "views/other/x.csv", b"a\n1\n"), "q-2")


def _served(trained: Deps, now: datetime) -> tuple[Deps, InferenceService]:
    deps = fork(trained)
    assert isinstance(deps.clock, ManualClock)
    deps.clock.current, deps.clock.step = now, timedelta(0)
    ModelRegistry.of(deps).set_alias("renewals", "production", 1, actor="test", reason="serve")
    return deps, InferenceService(deps, alias_ttl_s=0)


def test_a_request_with_only_the_entity_gets_the_prediction_of_the_full_row(trained: Deps, world: Any) -> None:
    labels, _before, _after = world
    now = START + timedelta(days=75)
    deps, service = _served(trained, now)
    online = deps.online
    assert isinstance(online, FakeOnlineStore)
    ids = list(labels["customer_id"])
    # the offline join, as of now, of the same entities: what a client holding every feature would send
    history_now = history(deps, "activity", 2)
    asked = pa.table({"customer_id": ids, "asked_at": pa.array([now] * len(ids), pa.timestamp("us", tz="UTC"))})
    joined = as_of_join(
        asked,
        label_time="asked_at",
        entity=["customer_id"],
        history=history_now,
        timestamp="event_time",
        features=["signal", "visits"],
        ttl_s=30 * 86400,
        defaults={},
    )
    full = [
        {"customer_id": c, "plan": "pro", "signal": s, "visits": v}
        for c, s, v in zip(ids, joined["signal"].to_pylist(), joined["visits"].to_pylist(), strict=True)
    ]
    assert sum(r["signal"] is not None for r in full) > 50  # the rest: older than the TTL now
    full = [r for r in full if r["signal"] is not None]
    reads = online.reads
    by_entity = service.predict("renewals", [{"customer_id": r["customer_id"], "plan": "pro"} for r in full], "e")
    assert online.reads == reads + 1  # one batched read for the whole request
    by_row = service.predict("renewals", full, "f")
    assert by_entity.body["probabilities"] == by_row.body["probabilities"]  # bit for bit
    assert by_entity.body["predictions"] == by_row.body["predictions"]
    # a value the request sends wins over the store's
    sent = service.predict("renewals", [{"customer_id": full[0]["customer_id"], "plan": "pro", "signal": -3.0}], "g")
    assert sent.body["probabilities"] != by_entity.body["probabilities"][:1]
    service.captures.flush()
    captures = deps.captures
    assert isinstance(captures, FakeCaptureSink)
    seen = [r for r in captures.records if r.get("request_id") == "e"]
    assert [r["inputs"]["signal"] for r in seen] == [r["signal"] for r in full]  # what the model saw


def test_an_unknown_or_expired_entity_follows_the_views_rule(trained: Deps) -> None:
    # GIVEN the view's rule is reject: a 422 naming the entity and the feature, unless the request sends it
    _deps, service = _served(trained, START + timedelta(days=75))
    with pytest.raises(InvalidRequest) as refused:
        service.predict("renewals", [{"customer_id": "C9999", "plan": "pro"}], "u")
    errors = refused.value.details["errors"]
    assert {(e["row"], e["field"], e["check"]) for e in errors} == {(0, "signal", "view"), (0, "visits", "view")}
    assert "'C9999'" in errors[0]["message"] and "'activity'" in errors[0]["message"]
    answered = service.predict("renewals", [{"customer_id": "C9999", "plan": "pro", "signal": 0.5, "visits": 2}], "k")
    assert answered.body["predictions"][0] in (True, False)
    # a year later every value is older than the TTL
    _, later = _served(trained, START + timedelta(days=400))
    with pytest.raises(InvalidRequest, match="break the data contract") as expired:
        later.predict("renewals", [{"customer_id": "C0001", "plan": "pro"}], "x")
    assert "older than its TTL" in expired.value.details["errors"][0]["message"]
    # without the entity key, the row names what to send
    with pytest.raises(InvalidRequest) as keyless:
        service.predict("renewals", [{"plan": "pro"}], "y")
    assert keyless.value.details["errors"][0]["field"] == "customer_id"


def test_a_view_with_defaults_serves_them_and_trains_with_them(world: Any) -> None:
    labels, before, _after = world
    deps = fake_deps()
    view = (
        VIEW.replace("ttl: 30d", "ttl: 30d\nmissing: default")
        .replace(
            "nullable: true, description: engagement score",
            "nullable: true, default: 0.0, description: engagement score",
        )
        .replace("nullable: true, min: 0,", "nullable: true, default: 0, min: 0,")
    )
    push_view(deps, view)
    push_spec(deps, MODEL)
    _materialise(deps, "before.csv", before, "m-1")
    run_pipeline(deps, "r-1", "renewals/labels.csv", _csv(labels), until="register")
    curated = _curated(deps).to_pandas()
    assert curated["signal"].isna().sum() == 0 and (curated["signal"] == 0.0).sum() > 100  # stale → the default
    deps.clock.current = START + timedelta(days=75)  # type: ignore[attr-defined]
    ModelRegistry.of(deps).set_alias("renewals", "production", 1, actor="test", reason="serve")
    service = InferenceService(deps, alias_ttl_s=0)
    unknown = service.predict("renewals", [{"customer_id": "C9999", "plan": "pro"}], "d")
    defaults = service.predict("renewals", [{"customer_id": "C9999", "plan": "pro", "signal": 0.0, "visits": 0}], "e")
    assert unknown.body["probabilities"] == defaults.body["probabilities"]


def test_a_model_whose_view_has_no_data_fails_its_run_with_what_to_do(world: Any) -> None:
    labels, _, _ = world
    deps = fake_deps()
    push_view(deps, VIEW)
    push_spec(deps, MODEL)
    with pytest.raises(SpecError, match="upload it under views/activity/"):
        run_pipeline(deps, "r-1", "renewals/labels.csv", _csv(labels), until="features")


def test_as_of_join_keeps_the_first_materialised_of_two_values_at_the_same_time() -> None:
    at = datetime(2026, 1, 2, tzinfo=UTC)
    stamp = pa.timestamp("us", tz="UTC")
    rows = pa.table(
        {
            "k": ["a", "a", "a"],
            "t": pa.array([at, at, at - timedelta(days=1)], stamp),
            "x": [2.0, 1.0, 0.5],
            VERSION_COLUMN: [3, 2, 1],
        }
    )
    labels = pa.table({"k": ["a", "b", "a"], "when": pa.array([at, at, at - timedelta(hours=1)], stamp)})
    out = as_of_join(
        labels, label_time="when", entity=["k"], history=rows, timestamp="t", features=["x"], ttl_s=86400, defaults={}
    )
    assert out["x"].to_pylist() == [1.0, None, 0.5]


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        (("entity: [customer_id]", "entity: [client]"), "(view)", "'client' is not a declared column"),
        (("ttl: 30d", "ttl: soon"), "ttl", "a duration such as 90d"),
        (("timestamp: event_time", "timestamp: signal"), "(view)", "must name a non-nullable timestamp column"),
        (("ttl: 30d", "ttl: 30d\nmissing: default"), "(view)", "feature 'signal' needs a default"),
        (("description: engagement score", "default: high"), "(view)", "default 'high' of feature 'signal'"),
    ],
)
def test_a_view_spec_that_cannot_work_is_refused_naming_its_field(
    change: tuple[str, str], field: str, says: str
) -> None:
    from slipway.spec.feature_view import load_view

    with pytest.raises(SpecError) as refused:
        load_view(VIEW.replace(*change))
    errors = refused.value.details["errors"]
    assert errors[0]["field"] == field and says in errors[0]["message"], errors


def test_a_model_spec_must_fit_its_views() -> None:
    from slipway.spec import load_spec

    with pytest.raises(SpecError, match=r"name the label time as data\.timestamp"):
        load_spec(MODEL.replace("  timestamp: asked_at\n", ""))
    with pytest.raises(SpecError, match="'views' is reserved"):
        load_spec(MODEL.replace("name: renewals", "name: views"))
    # pushed where the view is: a type that differs from the view's is refused, naming both
    deps = fake_deps()
    push_view(deps, VIEW)
    with pytest.raises(SpecError, match="column 'visits' is float here but int in the view"):
        push_spec(deps, MODEL.replace("{name: visits, type: int,", "{name: visits, type: float,"))
    with pytest.raises(SpecError, match="column 'plan' is not a feature of view 'activity'"):
        push_spec(
            deps,
            MODEL.replace(
                "{name: plan, type: category, allowed: [basic, pro]}",
                "{name: plan, type: category, allowed: [basic, pro], view: activity}",
            ),
        )


def test_entity_keys_read_the_same_from_an_upload_and_a_request() -> None:
    from slipway.domain.entities import entity_text

    assert entity_text([7], ["int"]) == entity_text(["7"], ["int"]) == entity_text([7.0], ["int"]) == "7"
    assert entity_text(["C-1", 3], ["string", "int"]) == '["C-1","3"]'
    with pytest.raises(ValueError, match="not an integer"):
        entity_text([7.5], ["int"])
    with pytest.raises(ValueError, match="not text"):
        entity_text([7], ["string"])


def test_as_of_join_reads_category_keys_kept_dictionary_encoded() -> None:
    # GIVEN labels whose key validation kept dictionary-encoded (a category column) and a history holding its text
    at = datetime(2026, 1, 2, tzinfo=UTC)
    stamp = pa.timestamp("us", tz="UTC")
    rows = pa.table({"k": ["a", "b"], "t": pa.array([at, at], stamp), "x": [1.0, 2.0], VERSION_COLUMN: [1, 1]})
    keys = pa.array(["b", "a", "c"]).dictionary_encode()
    labels = pa.table({"k": keys, "when": pa.array([at] * 3, stamp)})
    out = as_of_join(
        labels,
        label_time="when",
        entity=["k"],
        history=rows,
        timestamp="t",
        features=["x"],
        ttl_s=60,
        defaults={"x": -1.0},
    )
    assert out["x"].to_pylist() == [2.0, 1.0, -1.0]
